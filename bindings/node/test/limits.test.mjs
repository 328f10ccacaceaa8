// The resource-limit options (docs/security.md, "Resource limits") are accepted and take
// effect: maxConnections refuses the client beyond it until a channel is closed,
// expectedServerUid refuses a listener of another uid (IPC_INVALID_ARGUMENT over tcp),
// frameTimeout takes milliseconds (0 or null: no limit).

import assert from 'node:assert/strict';
import test from 'node:test';

import * as ipc from 'libipc';
import { endpointFor, isIpcError } from './helpers.mjs';

const WATCHDOG = { timeout: 20000 };

test('maxConnections refuses the client beyond it until a channel is closed', WATCHDOG, async () => {
  const listener = ipc.listen(endpointFor('unix'), { maxConnections: 1, frameTimeout: 0 });
  try {
    const first = await ipc.connect(listener.endpoint, { frameTimeout: null });
    const server = await listener.accept();
    await assert.rejects(ipc.connect(listener.endpoint), (e) => {
      isIpcError(ipc, 'IPC_TIMEOUT')(e);
      assert.match(e.message, /connection limit \(1\)/);
      return true;
    });
    await Promise.all([first.close(), server.close()]);
    const again = await ipc.connect(listener.endpoint, { frameTimeout: 2500 });
    await again.close();
  } finally {
    listener.close();
  }
  assert.throws(() => ipc.listen(endpointFor('unix'), { maxConnections: 0 }), isIpcError(ipc, 'IPC_INVALID_ARGUMENT'));
});

test('expectedServerUid: our uid connects, another is refused, tcp cannot check it', WATCHDOG, async () => {
  const uid = process.getuid();
  let listener = ipc.listen(endpointFor('unix'));
  try {
    const ok = await ipc.connect(listener.endpoint, { expectedServerUid: uid });
    await ok.close();
    await assert.rejects(ipc.connect(listener.endpoint, { expectedServerUid: uid + 4242 }),
      isIpcError(ipc, 'IPC_PERMISSION_DENIED'));
  } finally {
    listener.close();
  }
  listener = ipc.listen('tcp://127.0.0.1:0');
  try {
    await assert.rejects(ipc.connect(listener.endpoint, { expectedServerUid: uid }),
      isIpcError(ipc, 'IPC_INVALID_ARGUMENT'));
  } finally {
    listener.close();
  }
});
