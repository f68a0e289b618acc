import { describe, expect, it } from 'vitest'
import {
  apiForwardPort,
  hostVeth,
  inPodNetwork,
  linkPlan,
  netnsName,
  parseNetnsList,
  podIPOfNetns,
  podPlan,
  removePlan,
  staleNetns,
} from './pod-net.ts'
import { parsePodCidr } from './ip.ts'

describe('pod network names and plans', () => {
  it('derives the namespace and veth from the pod IP, and back', () => {
    expect(netnsName('10.244.3.17')).toBe('echonet-10.244.3.17')
    expect(podIPOfNetns('echonet-10.244.3.17')).toBe('10.244.3.17')
    expect(hostVeth('10.244.3.17')).toBe('ve0af40311')
    expect(hostVeth('10.244.255.254').length).toBeLessThanOrEqual(15)
    // Not ours, or not an address: never taken for a pod namespace.
    expect(podIPOfNetns('cni-1234')).toBeUndefined()
    expect(podIPOfNetns('echonet-10.244.3')).toBeUndefined()
    expect(podIPOfNetns('echonet-10.244.3.300')).toBeUndefined()
    expect(() => hostVeth('10.244.3.x')).toThrow(/not an IPv4 address/)
  })

  it('runs processes in the namespace with nsenter (exec: same pid)', () => {
    expect(inPodNetwork('10.244.3.17', ['node', 'main.ts'])).toEqual([
      'nsenter',
      '--net=/run/netns/echonet-10.244.3.17',
      '--',
      'node',
      'main.ts',
    ])
  })

  it('plans the veth pair on the bridge, the address on eth0 (the /16: every pod on-link), no route off the machine', () => {
    const plan = podPlan('10.244.3.17')
    expect(plan).toContainEqual(['link', 'set', 've0af40311', 'master', 'echonet0', 'up'])
    expect(plan).toContainEqual(['-n', 'echonet-10.244.3.17', 'addr', 'add', '10.244.3.17/16', 'dev', 'eth0'])
    expect(plan.some((c) => c.includes('route'))).toBe(false)
    expect(removePlan('10.244.3.17')).toEqual([
      ['link', 'del', 've0af40311'],
      ['netns', 'del', 'echonet-10.244.3.17'],
    ])
    expect(linkPlan('10.244.3.17', 'partition')).toEqual(['link', 'set', 've0af40311', 'down'])
    expect(linkPlan('10.244.3.17', 'heal')).toEqual(['link', 'set', 've0af40311', 'up'])
  })

  it('gives each agent its own, fixed apiserver port on the bridge', () => {
    expect(apiForwardPort('10.244.3.0/24')).toBe(17003)
    expect(apiForwardPort('10.244.79.0/24')).toBe(17079)
  })

  it('finds the stale namespaces of its own pool only', () => {
    const names = parseNetnsList(
      'echonet-10.244.3.17 (id: 2)\nechonet-10.244.3.18\nechonet-10.244.4.2 (id: 0)\ncni-x\n',
    )
    expect(names).toEqual(['echonet-10.244.3.17', 'echonet-10.244.3.18', 'echonet-10.244.4.2', 'cni-x'])
    const pool = parsePodCidr('10.244.3.0/24', 'netns')
    expect(staleNetns(names, (ip) => pool.contains(ip), new Set(['10.244.3.18']))).toEqual(['echonet-10.244.3.17'])
  })
})
