import { guestChecks } from './guest-checks.ts';

guestChecks('7.3', { kernel: '7.3' });
