/**
 * The e2e fabric (fabric-suite.ts) with every route reflector run from the
 * image root, as users run the container: s6 as PID 1 of its own PID
 * namespace, the image's BIRD 2.17, Node 24, user and capabilities.
 */
import { fabricSuite } from './fabric-suite.js';

fabricSuite('bird2', { image: true });
