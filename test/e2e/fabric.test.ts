/** The e2e fabric (fabric-suite.ts) with the route reflectors on BIRD 1.6 (`bird` + `bird6`). */
import { fabricSuite } from './fabric-suite.js';

fabricSuite('bird1');
