/**
 * A byte stream to a bus: a serial port or a TCP socket. One object per open attempt; once lost
 * it is thrown away and a new one is made (a net.Socket cannot reconnect, and a vanished USB
 * adapter leaves a SerialPort in a state not worth reviving).
 */
export interface LinkHandlers {
  data(chunk: Buffer): void;
  /** The link went away without close() being called. Called at most once. */
  lost(reason: string): void;
}

export interface ByteLink {
  /** Where it goes, for logs: `/dev/ttyUSB0@9600` or `tcp://10.0.0.5:502`. */
  readonly target: string;
  open(handlers: LinkHandlers): Promise<void>;
  write(frame: Buffer): void;
  close(): Promise<void>;
}

export type LinkFactory = () => ByteLink;
