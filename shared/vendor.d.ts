// libmime ships no types; only what we call is declared.
declare module 'libmime' {
  const libmime: {
    decodeWords(value: string): string;
    encodeWord(value: string, mimeWordEncoding?: 'Q' | 'B', maxLength?: number): string;
  };
  export default libmime;
}

declare module 's3rver' {
  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory: string;
    allowMismatchedSignatures?: boolean;
    resetOnClose?: boolean;
    configureBuckets?: { name: string }[];
  }
  export default class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }
}

// nodemailer's transfer-encoding libraries ship no types; only what we call is declared.
declare module 'libqp' {
  const libqp: {
    encode(buffer: Buffer | string): string;
    decode(text: Buffer | string): Buffer;
    wrap(text: string, lineLength?: number): string;
  };
  export default libqp;
}

declare module 'libbase64' {
  const libbase64: {
    encode(buffer: Buffer | string): string;
    decode(text: string): Buffer;
    wrap(text: string, lineLength?: number): string;
  };
  export default libbase64;
}
