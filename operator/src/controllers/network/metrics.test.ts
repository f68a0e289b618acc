import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { NetworkMetrics } from './metrics.ts'

describe('network metrics', () => {
  it('exports the live values the dashboard reads, and forgets a deleted network', async () => {
    const reg = new Registry()
    const m = new NetworkMetrics(reg)
    m.observe('ns', 'net', {
      finalizedHeight: 42,
      powerOnline: 4000,
      powerNeeded: 2667,
      underReplicatedContent: 3,
      conditions: [{ type: 'Ready', status: 'True', reason: 'NetworkReady', message: '', lastTransitionTime: 'x' }],
    })
    const text = await reg.metrics()
    expect(text).toContain('echonet_network_finalized_height{namespace="ns",network="net"} 42')
    expect(text).toContain('echonet_network_power_needed{namespace="ns",network="net"} 2667')
    expect(text).toContain('echonet_storage_under_replicated_content{namespace="ns",network="net"} 3')
    expect(text).toContain('echonet_network_condition{namespace="ns",network="net",type="Ready",status="True"} 1')
    expect(text).toContain('echonet_network_condition{namespace="ns",network="net",type="Ready",status="False"} 0')
    m.forget('ns', 'net')
    expect(await reg.metrics()).not.toContain('network="net"')
  })
})
