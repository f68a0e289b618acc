import { describe, expect, it } from 'vitest'
import { Annotations } from '../../api/v1alpha1/labels.ts'
import { exampleObjects } from '../network/test-fixtures.ts'
import { networkNodes, nodeMarks } from './nodes.ts'
import type { SecretView } from './pods.ts'

const secret = (node: string, annotations: Record<string, string>): SecretView => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: `testnet-${node}-key`, labels: { 'echonet.io/node': node }, annotations },
})

describe('the node plan after a restart (runbook marks on key Secrets)', () => {
  it('leaves retired members out and grows a Standby pool by its promoted members', () => {
    const { network, pools } = exampleObjects()
    const before = networkNodes(network, pools).map((n) => n.node)
    const marks = nodeMarks([
      secret('witnesses-1', { [Annotations.retired]: 'wl' }),
      secret('witnesses-2', { [Annotations.rekey]: 'wl', [Annotations.avoidMachines]: 'machine-a,machine-x' }),
      secret('standbys-0', { [Annotations.promoted]: 'wl' }),
      secret('standbys-1', { [Annotations.promoted]: 'wl' }),
      secret('ssn-0', { other: 'x' }),
    ])
    expect([...marks.keys()].sort()).toEqual(['standbys-0', 'standbys-1', 'witnesses-1', 'witnesses-2'])
    const after = networkNodes(network, pools, marks).map((n) => n.node)
    expect(after).not.toContain('witnesses-1')
    expect(after).toContain('witnesses-2')
    expect(after.filter((n) => n.startsWith('standbys-'))).toEqual([
      'standbys-0',
      'standbys-1',
      'standbys-2',
      'standbys-3',
    ])
    expect(after.length).toBe(before.length + 1)
    // The re-keyed node's new pod stays off the machines where it was lost.
    expect(networkNodes(network, pools, marks).find((n) => n.node === 'witnesses-2')?.avoidMachines).toEqual([
      'machine-a',
      'machine-x',
    ])
  })
})
