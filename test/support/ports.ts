/** A TCP port on loopback that was free a moment ago (for child processes that need one). */
export { freePort } from '../../tools/freePort';
