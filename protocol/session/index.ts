export * from './session-frames.js';
export * from './transfer-sender.js';
export * from './transfer-receiver.js';
export * from './session-machine.js';
