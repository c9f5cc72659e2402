// Cross-backend agreement, 6144 bits (nt); the suite itself is in test/helpers/agreement.ts.
import { agreementSuite } from '../helpers/agreement.js';

for (const bits of [6144]) agreementSuite(bits, 'nt');
