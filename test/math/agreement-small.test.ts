// Cross-backend agreement, 256,1536,2048 bits (all); the suite itself is in test/helpers/agreement.ts.
import { agreementSuite } from '../helpers/agreement.js';

for (const bits of [256, 1536, 2048]) agreementSuite(bits, 'all');
