// The SES "Received" notification that the S3 receipt action publishes (SNS -> SQS): the envelope, the
// verdicts and where the raw message was stored. The local stack builds the very same shape.
import { z } from 'zod';
import type { Verdict, Verdicts } from './routing';

const verdict = z
  .object({ status: z.enum(['PASS', 'FAIL', 'GRAY', 'PROCESSING_FAILED', 'DISABLED']) })
  .catch({ status: 'PROCESSING_FAILED' });

/**
 * Not SES's: what a history import knew about the message (its folder, flags, labels, and where its received
 * time came from). Only honoured for imported messages (ids from importMessageId).
 */
export const importedStateSchema = z.object({
  folder: z.string().min(1).max(500).optional(),
  flags: z
    .array(z.enum(['\\Seen', '\\Answered', '\\Flagged', '\\Draft', '\\Deleted', '$Forwarded']))
    .default([]),
  keywords: z.array(z.string().min(1).max(500)).max(100).default([]),
  receivedAtSource: z
    .enum(['ses', 'internaldate', 'envelope', 'received', 'date', 'file', 'import'])
    .optional(),
});
export type ImportedState = z.output<typeof importedStateSchema>;

export const sesReceivedNotificationSchema = z.object({
  notificationType: z.literal('Received'),
  imported: importedStateSchema.optional(),
  mail: z.object({
    timestamp: z.string(),
    source: z.string().default(''),
    messageId: z.string().min(1),
    destination: z.array(z.string()).default([]),
  }),
  receipt: z.object({
    timestamp: z.string(),
    recipients: z.array(z.string()).min(1),
    spamVerdict: verdict.optional(),
    virusVerdict: verdict.optional(),
    spfVerdict: verdict.optional(),
    dkimVerdict: verdict.optional(),
    dmarcVerdict: verdict.optional(),
    dmarcPolicy: z.enum(['none', 'quarantine', 'reject']).optional().catch(undefined),
    action: z.object({
      type: z.literal('S3'),
      bucketName: z.string().min(1),
      objectKey: z.string().min(1),
      topicArn: z.string().optional(),
    }),
  }),
});

export type SesReceivedNotification = z.output<typeof sesReceivedNotificationSchema>;

export class NotificationError extends Error {
  override name = 'NotificationError';
}

export function parseSesNotification(raw: unknown): SesReceivedNotification {
  const value = typeof raw === 'string' ? safeJson(raw) : raw;
  const result = sesReceivedNotificationSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new NotificationError(`not an SES Received notification with an S3 action: ${problems.join('; ')}`);
  }
  return result.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new NotificationError('notification body is not JSON', { cause: error });
  }
}

/** Missing verdicts are "not checked", never PASS. */
export function verdictsOf(receipt: SesReceivedNotification['receipt']): Verdicts {
  const status = (v: { status: Verdict } | undefined): Verdict => v?.status ?? 'PROCESSING_FAILED';
  return {
    spam: status(receipt.spamVerdict),
    virus: status(receipt.virusVerdict),
    spf: status(receipt.spfVerdict),
    dkim: status(receipt.dkimVerdict),
    dmarc: status(receipt.dmarcVerdict),
    ...(receipt.dmarcPolicy ? { dmarcPolicy: receipt.dmarcPolicy } : {}),
  };
}

/** Builds the notification SES publishes, for the local SMTP listener and the importer. */
export function buildReceivedNotification(input: {
  messageId: string;
  timestamp: Date;
  source: string;
  recipients: string[];
  bucket: string;
  objectKey: string;
  verdicts?: Partial<Verdicts>;
  imported?: ImportedState;
}): SesReceivedNotification {
  const v = (value: Verdict | undefined) => ({ status: value ?? 'GRAY' });
  const verdicts = input.verdicts ?? {};
  return {
    notificationType: 'Received',
    ...(input.imported ? { imported: input.imported } : {}),
    mail: {
      timestamp: input.timestamp.toISOString(),
      source: input.source,
      messageId: input.messageId,
      destination: input.recipients,
    },
    receipt: {
      timestamp: input.timestamp.toISOString(),
      recipients: input.recipients,
      spamVerdict: v(verdicts.spam),
      virusVerdict: v(verdicts.virus),
      spfVerdict: v(verdicts.spf),
      dkimVerdict: v(verdicts.dkim),
      dmarcVerdict: v(verdicts.dmarc),
      ...(verdicts.dmarcPolicy ? { dmarcPolicy: verdicts.dmarcPolicy } : {}),
      action: { type: 'S3', bucketName: input.bucket, objectKey: input.objectKey },
    },
  };
}

/**
 * The trace headers SES prepends to the copy it stores in S3, in SES's order. The local SMTP listener adds
 * the same ones so that a stored object looks the same wherever it came from.
 */
export function sesTraceHeaders(input: {
  envelopeFrom: string;
  recipients: string[];
  clientAddress: string;
  clientName: string;
  messageId: string;
  timestamp: Date;
  verdicts: Verdicts;
  receiver: string;
}): string {
  const date = input.timestamp.toUTCString().replace('GMT', '+0000 (UTC)');
  const forClause = input.recipients.length === 1 ? `\r\n for ${input.recipients[0]};` : ';';
  const lines = [
    `Return-Path: <${input.envelopeFrom}>`,
    `Received: from ${input.clientName} (${input.clientName} [${input.clientAddress}])\r\n by ${input.receiver} with SMTP id ${input.messageId}${forClause}\r\n ${date}`,
    `X-SES-Spam-Verdict: ${input.verdicts.spam}`,
    `X-SES-Virus-Verdict: ${input.verdicts.virus}`,
    `Received-SPF: ${input.verdicts.spf.toLowerCase()} (${input.receiver}: local delivery, not checked)`,
    `Authentication-Results: ${input.receiver};\r\n spf=${input.verdicts.spf.toLowerCase()};\r\n dkim=${input.verdicts.dkim.toLowerCase()};\r\n dmarc=${input.verdicts.dmarc.toLowerCase()}`,
  ];
  return `${lines.join('\r\n')}\r\n`;
}
