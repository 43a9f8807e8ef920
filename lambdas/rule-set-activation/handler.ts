// CloudFormation custom resource that makes the stack's receipt rule set the active one, and on delete
// deactivates only while the active set is still the stack's own. SES has one active rule set per region and
// SetActiveReceiptRuleSet without a name deactivates whichever is active, so a blind delete (what aws-cdk-lib's
// AwsCustomResource did) stopped all inbound mail when the rule set was renamed (CloudFormation deletes the old
// activation after creating the new one) and when the stack was deleted after someone activated another set.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import type { ActiveRuleSet } from '../../shared/adapters/ses-rule-sets';
import { errorMessage, errorName } from '../../shared/errors';

export interface ActivationDeps {
  ruleSets: ActiveRuleSet;
  /** Sends CloudFormation the outcome (a PUT to the event's pre-signed ResponseURL). */
  respond: (event: CloudFormationCustomResourceEvent, response: ActivationResponse) => Promise<void>;
  logger: Pick<Logger, 'info' | 'error'>;
}

export interface ActivationResponse {
  status: 'SUCCESS' | 'FAILED';
  physicalResourceId: string;
  reason?: string;
  data?: Record<string, string>;
}

/** What the activation did: `activated`, `deactivated`, or `left` (another set is active; untouched). */
export type ActivationOutcome = 'activated' | 'deactivated' | 'left';

function ruleSetNameOf(event: CloudFormationCustomResourceEvent): string {
  const name = event.ResourceProperties.RuleSetName;
  if (typeof name !== 'string' || name === '') throw new Error('the RuleSetName property is missing');
  return name;
}

/** The physical id names the rule set, so that a renamed set is a replacement (create new, delete old). */
export const physicalIdFor = (ruleSetName: string) => `active-receipt-rule-set:${ruleSetName}`;

/**
 * Applies one custom resource event: Create and Update activate the rule set named by `RuleSetName`; Delete
 * deactivates it only when it is still the active set (for a rename, Delete carries the old name, and the new
 * set is active by then).
 */
export async function applyActivation(
  ruleSets: ActiveRuleSet,
  event: CloudFormationCustomResourceEvent,
): Promise<{ outcome: ActivationOutcome; previous: string | undefined; ruleSetName: string }> {
  const ruleSetName = ruleSetNameOf(event);
  const previous = await ruleSets.activeName();
  if (event.RequestType === 'Delete') {
    if (previous !== ruleSetName) return { outcome: 'left', previous, ruleSetName };
    await ruleSets.activate(undefined);
    return { outcome: 'deactivated', previous, ruleSetName };
  }
  await ruleSets.activate(ruleSetName);
  return { outcome: 'activated', previous, ruleSetName };
}

export function createActivationHandler(deps: ActivationDeps) {
  return async (event: CloudFormationCustomResourceEvent): Promise<void> => {
    const fallbackId =
      'PhysicalResourceId' in event ? event.PhysicalResourceId : `${event.LogicalResourceId}-not-created`;
    try {
      const { outcome, previous, ruleSetName } = await applyActivation(deps.ruleSets, event);
      deps.logger.info('receipt rule set activation', {
        requestType: event.RequestType,
        outcome,
        previous,
        ruleSetName,
      });
      await deps.respond(event, {
        status: 'SUCCESS',
        physicalResourceId: physicalIdFor(ruleSetName),
        data: { Outcome: outcome, PreviouslyActive: previous ?? '' },
      });
    } catch (error) {
      const reason = `${errorName(error)}: ${errorMessage(error)}`;
      deps.logger.error('receipt rule set activation failed', { requestType: event.RequestType, reason });
      await deps.respond(event, { status: 'FAILED', physicalResourceId: fallbackId, reason });
    }
  };
}

/** Sends the response CloudFormation waits for: a PUT of the JSON body to the pre-signed ResponseURL. */
export async function respondToCloudFormation(
  event: CloudFormationCustomResourceEvent,
  response: ActivationResponse,
): Promise<void> {
  const body = JSON.stringify({
    Status: response.status,
    Reason: response.reason ?? response.status,
    PhysicalResourceId: response.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: response.data ?? {},
  });
  const result = await fetch(event.ResponseURL, {
    method: 'PUT',
    // The URL is pre-signed for an empty content type.
    headers: { 'content-type': '', 'content-length': String(Buffer.byteLength(body)) },
    body,
  });
  if (!result.ok) throw new Error(`CloudFormation refused the response: HTTP ${result.status}`);
}
