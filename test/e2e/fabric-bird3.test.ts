/** The e2e fabric (fabric-suite.ts) with the route reflectors on BIRD 3 (Debian 13's 3.1, one binary per family instance). */
import { fabricSuite } from './fabric-suite.js';

fabricSuite('bird3');
