/**
 * freePort: a TCP port on loopback that was free a moment ago (for child processes that need one).
 * stablePort: the same, below the kernel's ephemeral range, for a server a test stops and starts
 * again on its port: no other program's listen(0) or outgoing connection is given it meanwhile.
 */
export { freePort, stablePort } from '../../tools/freePort';
