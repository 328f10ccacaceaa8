// The ESM entry point of `libipc`: the same module as the CommonJS one (lib.js).
import lib from './lib.js';

export const { connect, listen, pair, fromEnv, errorCodes, defaults, Channel, Listener, rpcConnect, RpcClient, publisher, subscribe, Publisher, Subscriber } = lib;
export default lib;
