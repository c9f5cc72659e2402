import Type from 'typebox';
import { defineCommand } from './command.js';

/** `mpc-custody demo` (npm run demo): see demo.ts. */
export const demoCommand = defineCommand({
  name: 'demo',
  summary:
    '2-of-3 end to end on embedded defaults: math self-test, keygen, aux info, presign, sign an EIP-1559 transfer and a PSBT (over NATS when nats-server is on PATH)',
  flags: Type.Object({}),
  help: 'MPC_DEMO_TRANSPORT=memory runs the parties in one process.',
  async run(_f, io) {
    const { demoCommand: demo } = await import('./demo.js');
    return demo(io.out);
  },
});
