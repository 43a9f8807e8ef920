// An internationalised domain in the config reaches SES and Route 53 as its A-label only: receipt rule recipients,
// MX records (outputs and Route 53), identities, the canary's and the forwarder's send policies. SES takes no U-label (no SMTPUTF8:
// addresses are 7-bit, an internationalised domain goes as Punycode), and DNS names are ASCII. The config may
// write an address's domain in either spelling (shared/mail/address.ts); `domains` itself must be A-labels.
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';
import { TemplateModel } from './template-model';

const A_LABEL = 'xn--bcher-kva.example';

function idnTemplate(overrides: Record<string, unknown>) {
  const { stack } = synthesize(
    exampleConfig({
      domains: [A_LABEL],
      mailboxes: { 'alice@bücher.example': { forwardTo: [] } },
      route53: { hostedZoneId: 'Z123', zoneName: A_LABEL },
      ...overrides,
    }),
  );
  return Template.fromStack(stack);
}

const mxNames = (t: Template) =>
  Object.values(t.findResources('AWS::Route53::RecordSet', { Properties: { Type: 'MX' } }))
    .map((r) => (r as { Properties: { Name: string } }).Properties.Name)
    .sort();

describe('an internationalised domain reaches SES and Route 53 as its A-label', () => {
  it('a journal address on a U-label subdomain: its A-label in the receipt rule, the MX output and the hosted zone', () => {
    const t = idnTemplate({
      journalAddress: 'sent@journal.bücher.example',
      health: { canary: { address: 'canary@bücher.example' } },
      forwarding: { fromAddress: 'forwarder@bücher.example' },
    });
    t.hasResourceProperties('AWS::SES::ReceiptRule', {
      Rule: Match.objectLike({ Recipients: [A_LABEL, `journal.${A_LABEL}`] }),
    });
    expect(mxNames(t)).toEqual([`journal.${A_LABEL}.`, `${A_LABEL}.`]);
    t.hasOutput('MxRecord1', { Value: Match.stringLikeRegexp(`^journal\\.${A_LABEL} MX 10 `) });
    t.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: A_LABEL });
    // The canary sends from and to its address in the A-label, authorized on the A-label identity.
    const model = new TemplateModel('TestArchiver', t.toJSON().Resources);
    const [canaryFunction] = model.find('AWS::Lambda::Function', 'CanaryFunction');
    const statements = model
      .rolePolicies(model.roleOf(canaryFunction))
      .flatMap(({ policy }) => policy.Statement)
      .filter((s) => JSON.stringify(s.Action).includes('ses:SendEmail'));
    expect(statements).toHaveLength(1);
    expect(JSON.stringify(statements[0])).toContain(`:identity/${A_LABEL}"`);
    expect(statements[0]?.Condition).toMatchObject({
      StringEquals: { 'ses:FromAddress': `canary@${A_LABEL}` },
      'ForAllValues:StringEquals': { 'ses:Recipients': [`canary@${A_LABEL}`] },
    });
    // The forwarder sends from its A-label too (SES's identity, the From of every forwarded copy).
    expect(JSON.stringify(t.toJSON())).toContain(`"ses:FromAddress":"forwarder@${A_LABEL}"`);
    expect(JSON.stringify(t.toJSON())).not.toContain('bücher');
  });

  it('a journal address on a configured domain in its other spelling adds no second recipient or MX record', () => {
    const t = idnTemplate({ journalAddress: 'sent@bücher.example' });
    t.hasResourceProperties('AWS::SES::ReceiptRule', { Rule: Match.objectLike({ Recipients: [A_LABEL] }) });
    expect(mxNames(t)).toEqual([`${A_LABEL}.`]);
    expect(Object.keys(t.toJSON().Outputs).filter((o) => o.startsWith('MxRecord'))).toEqual(['MxRecord0']);
  });
});
