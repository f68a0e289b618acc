import { defineConfig } from 'vitest/config'

// Tiers (DESIGN §7): `unit` is pure logic and single-process I/O (seconds); `testnet` runs real
// echonet-node processes on loopback; `cluster` runs against the local Kubernetes control plane.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['node-image/src/**/*.test.ts', 'operator/src/**/*.test.ts', 'e2e/agent/**/*.test.ts'],
          exclude: ['**/*.cluster.test.ts', '**/node_modules/**', '**/_scratch/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'testnet',
          include: ['e2e/testnet/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        // `make images` (ADR 0012): builds (or reuses) both images, checks and runs them.
        test: {
          name: 'images',
          include: ['e2e/images/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 1_200_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cluster',
          include: [
            'operator/src/**/*.cluster.test.ts',
            'e2e/agent/**/*.cluster.test.ts',
            'e2e/operator/**/*.cluster.test.ts',
            'e2e/kind/**/*.cluster.test.ts',
          ],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
