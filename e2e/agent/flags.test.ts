import { describe, expect, it } from 'vitest'
import { parseFlags } from './flags.ts'

const d = { repoRoot: '/repo', cpus: 2, totalMemBytes: 8 * 2 ** 30 }

describe('parseFlags', () => {
  it('defaults', () => {
    expect(parseFlags([], {}, d)).toEqual({
      nodeName: 'local-agent-0',
      kubeconfig: '/repo/.cluster/kubeconfig',
      stateDir: '/repo/.cluster/agent',
      imagesFile: '/repo/e2e/agent/images.json',
      podCIDR: '127.1.0.0/16',
      podNetwork: 'loopback',
      cpu: '2',
      memory: '8388608Ki',
      maxPods: '110',
      apiHost: undefined,
      provisioner: true,
      kubeletPort: 0,
      logLevel: 'info',
      nodeLabels: {},
      help: false,
    })
  })

  it('environment and flags', () => {
    const f = parseFlags(
      ['--node-name', 'n1', '--pod-cidr=127.2.0.0/16', '--no-provisioner', '--cpu', '4', '--log-level', 'debug'].concat(
        ['--node-label', 'echonet.io/zone=a', '--node-label', 'spare='],
      ),
      { KUBECONFIG: '/k', ECHONET_CLUSTER_DIR: '/c' },
      d,
    )
    expect(f).toMatchObject({
      nodeName: 'n1',
      kubeconfig: '/k',
      stateDir: '/c/agent',
      podCIDR: '127.2.0.0/16',
      provisioner: false,
      cpu: '4',
      logLevel: 'debug',
      nodeLabels: { 'echonet.io/zone': 'a', spare: '' },
    })
  })

  it('netns mode: its own default CIDR, from the flag or the environment', () => {
    expect(parseFlags(['--pod-network', 'netns'], {}, d)).toMatchObject({
      podNetwork: 'netns',
      podCIDR: '10.244.1.0/24',
    })
    expect(parseFlags(['--pod-cidr', '10.244.9.0/24'], { ECHONET_AGENT_POD_NETWORK: 'netns' }, d)).toMatchObject({
      podNetwork: 'netns',
      podCIDR: '10.244.9.0/24',
    })
    // A CIDR of the other mode is refused, not reinterpreted.
    expect(() => parseFlags(['--pod-network', 'netns', '--pod-cidr', '127.2.0.0/16'], {}, d)).toThrow(/10\.244\.A/)
    expect(() => parseFlags(['--pod-cidr', '10.244.9.0/24'], {}, d)).toThrow(/127\.A/)
    expect(() => parseFlags(['--pod-network', 'bridge'], {}, d)).toThrow(/loopback or netns/)
  })

  it('rejects bad values', () => {
    expect(() => parseFlags(['--node-name', 'Bad_Name'], {}, d)).toThrow()
    expect(() => parseFlags(['--pod-cidr', '10.0.0.0/8'], {}, d)).toThrow()
    expect(() => parseFlags(['--cpu', '0'], {}, d)).toThrow()
    expect(() => parseFlags(['--bogus'], {}, d)).toThrow()
    expect(() => parseFlags(['--node-label', 'no-equals'], {}, d)).toThrow()
    expect(() => parseFlags(['--node-label', 'zone=has space'], {}, d)).toThrow()
  })
})
