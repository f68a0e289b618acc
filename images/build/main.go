// ociasm assembles the project's OCI images from staged directories, without a Docker daemon
// and without pulling anything (ADR 0012). It is driven by images/build.sh.
//
//	ociasm build --spec spec.json [--layer-cache dir]   assemble the images a spec describes
//	ociasm validate archive.oci.tar ...                  check both views (OCI index and docker manifest)
//
// Each layer is one staged directory, archived as a deterministic tar: entries sorted by path,
// every mtime set to the spec's created time, uid/gid 0, no user/group names, no atime/ctime, no
// extended attributes, file modes normalised (0755 if any execute bit else 0644; directories 0755,
// or 1777 when sticky), hard links stored as regular files. Layers are gzip-compressed with Go's
// compress/gzip (deterministic for a given Go version and level). The same staged files and the
// same spec therefore give the same layer, config and manifest digests.
//
// The output archive holds an OCI image layout (oci-layout, index.json, blobs/sha256/...) and,
// in the same tar and pointing to the same blobs, the docker-archive manifest.json — the format
// `docker save` writes since Docker 25, which `docker load`, `ctr import` (and so
// `kind load image-archive`) and `skopeo`/`crane` all read.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Spec is what images/build.sh writes: the images to assemble, each from staged directories.
type Spec struct {
	// Created is the images' creation time (RFC 3339; SOURCE_DATE_EPOCH, the last commit's time).
	Created string `json:"created"`
	// GzipLevel of the layers (compress/gzip); 0 means 6, the default level (9 saves 0.5 % and
	// takes twice as long).
	GzipLevel int         `json:"gzipLevel,omitempty"`
	Images    []ImageSpec `json:"images"`
}

type ImageSpec struct {
	// Name is the repository (echonet/echonet-node) and Tag its tag (0.1.0).
	Name string `json:"name"`
	Tag  string `json:"tag"`
	// Out is the archive to write (dist/images/echonet-node.oci.tar).
	Out    string      `json:"out"`
	Layers []LayerSpec `json:"layers"`
	// Config is the image's runtime configuration (User, Entrypoint, Cmd, Env, WorkingDir,
	// ExposedPorts, Labels).
	Config v1.Config `json:"config"`
	// Annotations of the manifest (and of its descriptor in index.json).
	Annotations map[string]string `json:"annotations"`
}

type LayerSpec struct {
	// Dir is staged as the image's root: Dir/usr/lib/x → /usr/lib/x.
	Dir string `json:"dir"`
	// CreatedBy is the history entry (docker history).
	CreatedBy string `json:"createdBy"`
}

// Result is printed (JSON) for each image: build.sh turns it into dist/images/images.json.
type Result struct {
	Name     string   `json:"name"`
	Tag      string   `json:"tag"`
	Digest   string   `json:"digest"`
	ImageID  string   `json:"imageId"`
	Archive  string   `json:"archive"`
	Size     int64    `json:"archiveBytes"`
	Layers   []string `json:"layers"`
	Bytes    int64    `json:"compressedBytes"`
	RawBytes int64    `json:"uncompressedBytes"`
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = cmdBuild(os.Args[2:])
	case "validate":
		err = cmdValidate(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ociasm:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ociasm build --spec spec.json [--layer-cache dir] | ociasm validate archive.oci.tar...")
	os.Exit(2)
}

func cmdBuild(args []string) error {
	fl := flag.NewFlagSet("build", flag.ExitOnError)
	specPath := fl.String("spec", "", "spec JSON")
	cacheDir := fl.String("layer-cache", "", "directory of compressed layers keyed by their uncompressed digest (optional)")
	_ = fl.Parse(args)
	if *specPath == "" {
		return errors.New("--spec is required")
	}
	raw, err := os.ReadFile(*specPath)
	if err != nil {
		return err
	}
	var spec Spec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	created, err := time.Parse(time.RFC3339, spec.Created)
	if err != nil {
		return fmt.Errorf("spec.created: %w", err)
	}
	created = created.UTC()
	level := spec.GzipLevel
	if level == 0 {
		level = 6
	}
	work, err := os.MkdirTemp("", "ociasm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	lb := &layerBuilder{created: created, level: level, cacheDir: *cacheDir, work: work, byDir: map[string]built{}}
	var results []Result
	for _, is := range spec.Images {
		r, err := buildImage(lb, is, created)
		if err != nil {
			return fmt.Errorf("%s: %w", is.Name, err)
		}
		results = append(results, r)
	}
	if *cacheDir != "" {
		// Drop cached layers no image of this run uses (the cache would grow with every commit).
		used := map[string]bool{}
		for _, b := range lb.byDir {
			used[filepath.Base(b.path)] = true
		}
		ents, err := os.ReadDir(*cacheDir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !used[e.Name()] {
				os.Remove(filepath.Join(*cacheDir, e.Name()))
			}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}

type built struct {
	path   string // gzip file
	diffID string
	raw    int64
}

type layerBuilder struct {
	created  time.Time
	level    int
	cacheDir string
	work     string
	byDir    map[string]built
}

// layer archives dir once per run (both images share the base and Node layers).
func (lb *layerBuilder) layer(dir string) (built, error) {
	if b, ok := lb.byDir[dir]; ok {
		return b, nil
	}
	tmp, err := os.CreateTemp(lb.work, "layer-*.tar")
	if err != nil {
		return built{}, err
	}
	h := sha256.New()
	cw := &countWriter{}
	if err := writeTar(io.MultiWriter(tmp, h, cw), dir, lb.created); err != nil {
		tmp.Close()
		return built{}, fmt.Errorf("layer %s: %w", dir, err)
	}
	if err := tmp.Close(); err != nil {
		return built{}, err
	}
	diffID := hex.EncodeToString(h.Sum(nil))
	gzName := fmt.Sprintf("%s-gz%d-%s.tar.gz", diffID, lb.level, runtime.Version())
	var gzPath string
	if lb.cacheDir != "" {
		gzPath = filepath.Join(lb.cacheDir, gzName)
		if _, err := os.Stat(gzPath); err == nil {
			os.Remove(tmp.Name())
			b := built{path: gzPath, diffID: diffID, raw: cw.n}
			lb.byDir[dir] = b
			return b, nil
		}
		if err := os.MkdirAll(lb.cacheDir, 0o755); err != nil {
			return built{}, err
		}
	} else {
		gzPath = filepath.Join(lb.work, gzName)
	}
	if err := gzipFile(tmp.Name(), gzPath, lb.level); err != nil {
		return built{}, err
	}
	os.Remove(tmp.Name())
	b := built{path: gzPath, diffID: diffID, raw: cw.n}
	lb.byDir[dir] = b
	return b, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func gzipFile(src, dst string, level int) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	part := dst + ".partial"
	out, err := os.Create(part)
	if err != nil {
		return err
	}
	// The gzip header carries no name and no mtime (zero values), so the output depends on
	// the input bytes and the level only.
	zw, err := gzip.NewWriterLevel(out, level)
	if err != nil {
		out.Close()
		return err
	}
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(part, dst)
}

// writeTar writes dir as a deterministic tar (see the package comment).
func writeTar(w io.Writer, dir string, mtime time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		paths = append(paths, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, rel := range paths {
		full := filepath.Join(dir, filepath.FromSlash(rel))
		fi, err := os.Lstat(full)
		if err != nil {
			return err
		}
		hdr := &tar.Header{
			Name:    rel,
			ModTime: mtime,
			Uid:     0,
			Gid:     0,
			Format:  tar.FormatPAX,
		}
		mode := fi.Mode()
		switch {
		case mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name = rel + "/"
			hdr.Mode = 0o755
			if mode&fs.ModeSticky != 0 {
				hdr.Mode = 0o1777
			}
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(full)
			if err != nil {
				return err
			}
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = target
			hdr.Mode = 0o777
		case mode.IsRegular():
			hdr.Typeflag = tar.TypeReg
			hdr.Size = fi.Size()
			hdr.Mode = 0o644
			if mode.Perm()&0o111 != 0 {
				hdr.Mode = 0o755
			}
		default:
			return fmt.Errorf("%s: unsupported file type %s", full, mode.Type())
		}
		// PAX only where a name or link is too long for ustar; no atime/ctime records.
		if len(hdr.Name) <= 100 && len(hdr.Linkname) <= 100 {
			hdr.Format = tar.FormatUSTAR
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(full)
			if err != nil {
				return err
			}
			n, err := io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
			if n != hdr.Size {
				return fmt.Errorf("%s changed while archiving", full)
			}
		}
	}
	return tw.Close()
}

func buildImage(lb *layerBuilder, is ImageSpec, created time.Time) (Result, error) {
	if is.Name == "" || is.Tag == "" || is.Out == "" {
		return Result{}, errors.New("name, tag and out are required")
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	res := Result{Name: is.Name, Tag: is.Tag, Archive: is.Out}
	for _, ls := range is.Layers {
		b, err := lb.layer(ls.Dir)
		if err != nil {
			return Result{}, err
		}
		l, err := tarball.LayerFromFile(b.path, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return Result{}, err
		}
		d, err := l.Digest()
		if err != nil {
			return Result{}, err
		}
		sz, err := l.Size()
		if err != nil {
			return Result{}, err
		}
		res.Layers = append(res.Layers, d.String())
		res.Bytes += sz
		res.RawBytes += b.raw
		adds = append(adds, mutate.Addendum{
			Layer:     l,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: ls.CreatedBy, Comment: "ociasm"},
		})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return Result{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Result{}, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config = is.Config
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return Result{}, err
	}
	img = mutate.Annotations(img, is.Annotations).(v1.Image)
	// (validate.Image runs on the written archive: `ociasm validate`, called by build.sh.)
	digest, err := img.Digest()
	if err != nil {
		return Result{}, err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return Result{}, err
	}
	res.Digest = digest.String()
	res.ImageID = cfgName.String()
	if err := writeArchive(is, img, created); err != nil {
		return Result{}, err
	}
	st, err := os.Stat(is.Out)
	if err != nil {
		return Result{}, err
	}
	res.Size = st.Size()
	return res, nil
}

type entry struct {
	name string
	data []byte                        // small files
	open func() (io.ReadCloser, error) // blobs
	size int64
}

// writeArchive writes the OCI layout plus the docker manifest.json into one tar, entries sorted.
func writeArchive(is ImageSpec, img v1.Image, mtime time.Time) error {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	full := is.Name + ":" + is.Tag
	// containerd's importer names the image from io.containerd.image.name; OCI tools use ref.name.
	anns := map[string]string{
		"io.containerd.image.name":          dockerRef(full),
		"org.opencontainers.image.ref.name": is.Tag,
	}
	for k, v := range is.Annotations {
		anns[k] = v
	}
	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType:   types.OCIManifestSchema1,
			Size:        int64(len(rawManifest)),
			Digest:      digest,
			Annotations: anns,
			Platform:    &v1.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		}},
	}
	rawIndex, err := json.Marshal(index)
	if err != nil {
		return err
	}
	type dockerManifest struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	dm := []dockerManifest{{Config: "blobs/sha256/" + cfgName.Hex, RepoTags: []string{full}}}
	entries := []entry{
		{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", data: rawIndex},
		{name: "blobs/sha256/" + digest.Hex, data: rawManifest},
		{name: "blobs/sha256/" + cfgName.Hex, data: rawConfig},
	}
	seen := map[string]bool{}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		sz, err := l.Size()
		if err != nil {
			return err
		}
		dm[0].Layers = append(dm[0].Layers, "blobs/sha256/"+d.Hex)
		if seen[d.Hex] {
			continue
		}
		seen[d.Hex] = true
		entries = append(entries, entry{name: "blobs/sha256/" + d.Hex, open: l.Compressed, size: sz})
	}
	rawDM, err := json.Marshal(dm)
	if err != nil {
		return err
	}
	entries = append(entries, entry{name: "manifest.json", data: rawDM})
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	if err := os.MkdirAll(filepath.Dir(is.Out), 0o755); err != nil {
		return err
	}
	part := is.Out + ".partial"
	f, err := os.Create(part)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	dirs := map[string]bool{}
	for _, e := range entries {
		if dir := path.Dir(e.name); dir != "." {
			for _, d := range []string{"blobs/", "blobs/sha256/"} {
				if strings.HasPrefix(e.name, d) && !dirs[d] {
					dirs[d] = true
					if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime, Format: tar.FormatUSTAR}); err != nil {
						f.Close()
						return err
					}
				}
			}
		}
		size := e.size
		if e.open == nil {
			size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: size, ModTime: mtime, Format: tar.FormatUSTAR}); err != nil {
			f.Close()
			return err
		}
		if e.open == nil {
			_, err = tw.Write(e.data)
		} else {
			var rc io.ReadCloser
			rc, err = e.open()
			if err == nil {
				_, err = io.Copy(tw, rc)
				rc.Close()
			}
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(part, is.Out)
}

// dockerRef is the fully qualified reference containerd stores (docker.io/echonet/x:tag).
func dockerRef(ref string) string {
	first := strings.SplitN(ref, "/", 2)[0]
	if !strings.Contains(ref, "/") {
		return "docker.io/library/" + ref
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return ref
	}
	return "docker.io/" + ref
}

// cmdValidate reads each archive both ways — as an OCI layout (index.json) and as a docker
// archive (manifest.json) — validates every blob against its digest, and checks that both
// views name the same config (image ID).
//
// By default layers are checked by their compressed digest only (every blob is hashed while the
// archive is read); --full also decompresses them and checks their diff IDs.
func cmdValidate(args []string) error {
	fl := flag.NewFlagSet("validate", flag.ExitOnError)
	full := fl.Bool("full", false, "also decompress every layer and check its diff ID")
	_ = fl.Parse(args)
	args = fl.Args()
	if len(args) == 0 {
		return errors.New("validate: no archives")
	}
	var opts []validate.Option
	if !*full {
		opts = append(opts, validate.Fast)
	}
	for _, a := range args {
		// Docker view.
		dimg, err := tarball.ImageFromPath(a, nil)
		if err != nil {
			return fmt.Errorf("%s (docker view): %w", a, err)
		}
		if err := validate.Image(dimg, validate.Fast); err != nil {
			return fmt.Errorf("%s (docker view): %w", a, err)
		}
		dID, err := dimg.ConfigName()
		if err != nil {
			return err
		}
		// OCI view: unpack the tar into a temporary layout.
		tmp, err := os.MkdirTemp("", "ociasm-validate-")
		if err != nil {
			return err
		}
		err = untar(a, tmp)
		if err == nil {
			var p layout.Path
			p, err = layout.FromPath(tmp)
			if err == nil {
				var idx v1.ImageIndex
				idx, err = p.ImageIndex()
				if err == nil {
					err = validate.Index(idx, opts...)
					if err == nil {
						var im *v1.IndexManifest
						im, err = idx.IndexManifest()
						if err == nil && len(im.Manifests) != 1 {
							err = fmt.Errorf("index.json has %d manifests, want 1", len(im.Manifests))
						}
						if err == nil {
							var oimg v1.Image
							oimg, err = idx.Image(im.Manifests[0].Digest)
							if err == nil {
								var oID v1.Hash
								oID, err = oimg.ConfigName()
								if err == nil && oID != dID {
									err = fmt.Errorf("OCI view config %s != docker view config %s", oID, dID)
								}
								if err == nil {
									fmt.Printf("%s: ok: manifest %s, config %s, ref %s\n", a, im.Manifests[0].Digest, oID, im.Manifests[0].Annotations["io.containerd.image.name"])
								}
							}
						}
					}
				}
			}
		}
		os.RemoveAll(tmp)
		if err != nil {
			return fmt.Errorf("%s (OCI view): %w", a, err)
		}
	}
	return nil
}

func untar(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if strings.HasPrefix(name, "../") || path.IsAbs(name) {
			return fmt.Errorf("unsafe path %q", h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			out, err := os.Create(dst)
			if err != nil {
				return err
			}
			h := sha256.New()
			if _, err := io.Copy(io.MultiWriter(out, h), tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
			if hexName, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && hexName != hex.EncodeToString(h.Sum(nil)) {
				return fmt.Errorf("%s: content does not match its digest", name)
			}
		default:
			return fmt.Errorf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
	}
}
