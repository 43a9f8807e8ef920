// The account's active SES receipt rule set (one per region), through SES v1: the only API that has them.
import {
  DescribeActiveReceiptRuleSetCommand,
  SESClient,
  SetActiveReceiptRuleSetCommand,
} from '@aws-sdk/client-ses';

export interface ActiveRuleSet {
  /** The name of the active receipt rule set, or undefined when none is active. */
  activeName(): Promise<string | undefined>;
  /** Makes `name` the active rule set; undefined deactivates whatever set is active. */
  activate(name: string | undefined): Promise<void>;
}

export class SesActiveRuleSet implements ActiveRuleSet {
  constructor(private readonly ses: SESClient = new SESClient({})) {}

  async activeName(): Promise<string | undefined> {
    const result = await this.ses.send(new DescribeActiveReceiptRuleSetCommand({}));
    return result.Metadata?.Name;
  }

  async activate(name: string | undefined): Promise<void> {
    await this.ses.send(new SetActiveReceiptRuleSetCommand(name === undefined ? {} : { RuleSetName: name }));
  }
}
