/**
 * One error class with stable codes, so that logs, the CLI and tests can match on `code`
 * instead of on message text (the fastify habit).
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'SW_ERR_CONFIG_INVALID',
  CONFIG_NOT_FOUND: 'SW_ERR_CONFIG_NOT_FOUND',
  PROFILE_INVALID: 'SW_ERR_PROFILE_INVALID',
  PROFILE_UNKNOWN: 'SW_ERR_PROFILE_UNKNOWN',
  DEVICE_UNKNOWN: 'SW_ERR_DEVICE_UNKNOWN',
  COMMAND_UNKNOWN: 'SW_ERR_COMMAND_UNKNOWN',
  COMMAND_FORBIDDEN: 'SW_ERR_COMMAND_FORBIDDEN',
  TRANSPORT_TIMEOUT: 'SW_ERR_TRANSPORT_TIMEOUT',
  TRANSPORT_CLOSED: 'SW_ERR_TRANSPORT_CLOSED',
  TRANSPORT_CRC: 'SW_ERR_TRANSPORT_CRC',
  TRANSPORT_FRAME: 'SW_ERR_TRANSPORT_FRAME',
  MODBUS_EXCEPTION: 'SW_ERR_MODBUS_EXCEPTION',
  QUEUE_FULL: 'SW_ERR_QUEUE_FULL',
  BREAKER_OPEN: 'SW_ERR_BREAKER_OPEN',
  PAYLOAD_INVALID: 'SW_ERR_PAYLOAD_INVALID',
  STORE: 'SW_ERR_STORE',
  ALARM_UNKNOWN: 'SW_ERR_ALARM_UNKNOWN',
  ALARM_STATE: 'SW_ERR_ALARM_STATE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class ShouwangError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ShouwangError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isShouwangError(err: unknown, code?: ErrorCode): err is ShouwangError {
  return err instanceof ShouwangError && (code === undefined || err.code === code);
}

/** Message of any thrown value, for logs. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
