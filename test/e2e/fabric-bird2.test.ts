/** The e2e fabric (fabric-suite.ts) with the route reflectors on BIRD 2 (Debian 13's 2.17, one binary per family instance). */
import { fabricSuite } from './fabric-suite.js';

fabricSuite('bird2');
