/**
 * A TCP port on loopback that was free a moment ago (for child processes that need one).
 * The benchmark's copy is the one implementation: the bench must not import test code, and
 * test/support already takes the private broker from bench/lib the same way.
 */
export { freePort } from '../../bench/lib/children';
