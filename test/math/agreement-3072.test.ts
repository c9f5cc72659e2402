// Cross-backend agreement, 3072 bits (all); the suite itself is in test/helpers/agreement.ts.
import { agreementSuite } from '../helpers/agreement.js';

for (const bits of [3072]) agreementSuite(bits, 'all');
