// The ESM entry point of `libipc`: the same module as the CommonJS one (lib.js).
import lib from './lib.js';

export const { connect, listen, pair, fromEnv, errorCodes, defaults, Channel, Listener, rpcConnect, RpcClient, rpcListen, RpcServer, RpcConnection, serve, PANIC_REPLY_STATUS, publisher, subscribe, Publisher, Subscriber } = lib;
export default lib;
