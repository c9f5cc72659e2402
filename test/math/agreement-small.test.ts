// Cross-backend agreement, 256,1536,2048 bits (all); the suite itself is in test/helpers/agreement.ts.
// 10^4 inputs per operation at 256 bits, 2,500 at 1536 and 2048: every planted corner kept, fewer
// random inputs (AGREEMENT_INPUTS_LARGE there).
import { agreementSuite } from '../helpers/agreement.js';

for (const bits of [256, 1536, 2048]) agreementSuite(bits, 'all');
