// Network drills on pods of a netns-mode agent (e2e/agent/README.md, "Pod network"):
//
//   node e2e/agent/pod-net-cli.ts partition <pod-ip | namespace/pod>   cut the pod off the network
//   node e2e/agent/pod-net-cli.ts heal      <pod-ip | namespace/pod>   connect it again
//   node e2e/agent/pod-net-cli.ts show      <pod-ip | namespace/pod>   its namespace, veth and state
//
// The pod's host veth goes down (its eth0 loses carrier: nothing in or out, the host's probes
// included) or up again. `namespace/pod` is looked up with kubectl (KUBECONFIG). Needs root.
// Exit codes: 0 done, 1 failed, 2 usage.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { hostVeth, linkPlan, netnsName, netnsPath } from './pod-net.ts'

function podIPOf(target: string): string {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(target)) return target
  const m = /^([^/]+)\/([^/]+)$/.exec(target)
  if (m === null) throw new Error(`not a pod IP or namespace/pod: ${JSON.stringify(target)}`)
  const ip = execFileSync('kubectl', ['-n', m[1]!, 'get', 'pod', m[2]!, '-o', 'jsonpath={.status.podIP}'], {
    encoding: 'utf8',
  }).trim()
  if (ip === '') throw new Error(`pod ${target} has no IP yet`)
  return ip
}

function main(argv: string[]): number {
  const [cmd, target] = argv
  if ((cmd !== 'partition' && cmd !== 'heal' && cmd !== 'show') || target === undefined) {
    process.stderr.write('usage: pod-net-cli.ts partition|heal|show <pod-ip | namespace/pod>\n')
    return 2
  }
  const ip = podIPOf(target)
  const veth = hostVeth(ip)
  if (!existsSync(netnsPath(ip)) || !existsSync(`/sys/class/net/${veth}`)) {
    process.stderr.write(`pod ${target} (${ip}) has no network namespace here (is its agent in --pod-network=netns?)\n`)
    return 1
  }
  if (cmd !== 'show') execFileSync('ip', linkPlan(ip, cmd), { stdio: 'inherit' })
  const state = readFileSync(`/sys/class/net/${veth}/operstate`, 'utf8').trim()
  process.stdout.write(`${JSON.stringify({ podIP: ip, netns: netnsName(ip), veth, state })}\n`)
  return 0
}

try {
  process.exitCode = main(process.argv.slice(2))
} catch (err) {
  process.stderr.write(`pod-net: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
}
