// Small hand-written messages for tests. Line endings are explicit: real mail arrives with all three.
export interface MessageOptions {
  from?: string;
  to?: string;
  cc?: string;
  subject?: string;
  messageId?: string | null;
  date?: string;
  body?: string;
  extraHeaders?: string[];
  eol?: '\r\n' | '\n' | '\r';
}

export function makeMessage(options: MessageOptions = {}): Buffer {
  const eol = options.eol ?? '\r\n';
  const headers = [
    `From: ${options.from ?? 'Ann Sender <ann@sender.example.org>'}`,
    `To: ${options.to ?? 'alice@example.com'}`,
    ...(options.cc ? [`Cc: ${options.cc}`] : []),
    `Subject: ${options.subject ?? 'Hello'}`,
    `Date: ${options.date ?? 'Tue, 01 Sep 2026 10:00:00 +0000'}`,
    ...(options.messageId === null
      ? []
      : [
          `Message-ID: ${options.messageId ?? `<${Math.random().toString(36).slice(2)}@sender.example.org>`}`,
        ]),
    'MIME-Version: 1.0',
    ...(options.extraHeaders ?? []),
  ];
  const hasContentType = (options.extraHeaders ?? []).some((h) => /^content-type:/i.test(h));
  if (!hasContentType) headers.push('Content-Type: text/plain; charset=utf-8');
  const body = (options.body ?? 'Hi Alice,\nthis is a test.\n').replace(/\n/g, eol);
  return Buffer.from(`${headers.join(eol)}${eol}${eol}${body}`, 'utf8');
}

/** A multipart message with one base64 attachment of `size` bytes named `filename`. */
export function makeMessageWithAttachment(
  filename: string,
  size: number,
  options: MessageOptions = {},
): Buffer {
  const content = Buffer.alloc(size, 'x').toString('base64').replace(/.{76}/g, '$&\n');
  return makeMessage({
    ...options,
    extraHeaders: ['Content-Type: multipart/mixed; boundary="b1"'],
    body: [
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'see attached',
      '--b1',
      `Content-Type: application/octet-stream; name="${filename}"`,
      `Content-Disposition: attachment; filename="${filename}"`,
      'Content-Transfer-Encoding: base64',
      '',
      content.trimEnd(),
      '--b1--',
      '',
    ].join('\n'),
  });
}
