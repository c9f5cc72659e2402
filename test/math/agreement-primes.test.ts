// Cross-backend agreement of the probable-prime test; the suite is in test/helpers/agreement.ts.
import { primalitySuite } from '../helpers/agreement.js';

primalitySuite();
