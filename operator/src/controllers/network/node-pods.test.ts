import { describe, expect, it } from 'vitest'
import { Annotations } from '../../api/v1alpha1/labels.ts'
import { networkNodes } from '../shared/nodes.ts'
import type { PodView } from '../shared/pods.ts'
import type { KubeObject } from '../objects.ts'
import { rolloutInput, rolloutPod } from './node-pods.ts'
import { exampleObjects } from './test-fixtures.ts'

const T0 = Date.parse('2026-11-24T12:00:00Z')

function podView(name: string, over: { ready?: boolean; transition?: string; hash?: string } = {}): PodView {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      creationTimestamp: '2026-11-24T12:00:00Z',
      annotations: { [Annotations.specHash]: over.hash ?? 'h1' },
    },
    status: {
      phase: 'Running',
      conditions: [
        {
          type: 'Ready',
          status: over.ready === false ? 'False' : 'True',
          ...(over.transition !== undefined ? { lastTransitionTime: over.transition } : {}),
        },
      ],
    },
  }
}

describe('node pods: what the rollout sees', () => {
  it('a Ready pod counts from when it became Ready, never before it was created', () => {
    expect(rolloutPod(podView('p', { transition: '2026-11-24T12:00:09Z' }), T0 + 60_000)).toEqual({
      name: 'p',
      specHash: 'h1',
      ready: true,
      terminating: false,
      finished: false,
      crashLooping: false,
      readySinceMs: T0 + 9_000,
    })
    expect(rolloutPod(podView('p'), T0 + 60_000).readySinceMs).toBe(T0)
  })

  it('a pod not Ready says for how long', () => {
    expect(
      rolloutPod(podView('p', { ready: false, transition: '2026-11-24T12:00:10Z' }), T0 + 45_000).notReadyForMs,
    ).toBe(35_000)
  })

  it('nodes take their desired spec hash and DID from the desired pods; nodes without one have none', () => {
    const { network, pools } = exampleObjects()
    const plan = networkNodes(network, pools)
    const desired = plan
      .filter((n) => n.node !== 'ssn-5')
      .map((n): KubeObject => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: n.podName,
          labels: {},
          ownerReferences: [],
          annotations: { [Annotations.specHash]: 'h2', [Annotations.did]: `did-${n.node}` },
        },
      }))
    const input = rolloutInput(
      {
        net: network,
        plan,
        desired,
        pods: [podView('testnet-seed-0')],
        observations: [],
        finalizing: true,
        ssnBudget: 1,
      },
      T0,
    )
    expect(input.nodes.find((n) => n.node === 'witnesses-2')).toEqual({
      node: 'witnesses-2',
      role: 'witness',
      podName: 'testnet-witnesses-2',
      did: 'did-witnesses-2',
      desiredHash: 'h2',
    })
    expect(input.nodes.find((n) => n.node === 'ssn-5')?.desiredHash).toBeUndefined()
    expect(input.pods.map((p) => [p.name, p.specHash])).toEqual([['testnet-seed-0', 'h1']])
  })
})
