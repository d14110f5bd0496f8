import { guestChecks } from './guest-checks.ts';

guestChecks('6.12', { kernel: '6.12' });
