// Logical IDs are the contract with a deployed stack: CloudFormation replaces a resource whose logical ID
// changes, and the retained raw-mail bucket and index table would be orphaned. The stack is composed of
// constructs (cdk/constructs/), one per architectural task, but its resources keep the IDs they had when they
// were all direct children of the stack: a construct registered here is left out of the IDs of everything under
// it, exactly as if its children were the stack's own.
import { createHash } from 'node:crypto';
import { Names } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * aws-cdk-lib's own logical ID rule (core/lib/private/uniqueid.ts, not exported): path components without
 * `Default`; one component is used as is; otherwise the human part (consecutive duplicates and `Resource`
 * removed, non-alphanumerics dropped, at most 240 characters) followed by the first 8 hex digits, upper case,
 * of the MD5 of the components joined by `/`.
 * @throws Error when no component is left.
 */
export function makeUniqueId(path: readonly string[]): string {
  const components = path.filter((c) => c !== 'Default');
  if (components.length === 0) throw new Error('cannot make a unique id of an empty path');
  const alphanumeric = (s: string) => s.replace(/[^A-Za-z0-9]/g, '');
  if (components.length === 1) {
    const only = alphanumeric(components[0] as string);
    if (only.length <= 255) return only;
  }
  const hash = createHash('md5').update(components.join('/')).digest('hex').slice(0, 8).toUpperCase();
  const human: string[] = [];
  for (const c of components) {
    const last = human[human.length - 1];
    if (last === undefined || !last.endsWith(c)) human.push(c);
  }
  return (
    human
      .filter((c) => c !== 'Resource')
      .map(alphanumeric)
      .join('')
      .slice(0, 240) + hash
  );
}

const flattened = new WeakSet<IConstruct>();

/**
 * Leaves `construct` (a direct child of its stack) out of the logical IDs of everything under it: its children
 * get the logical IDs they would have as the stack's own children. Call it first in the construct's constructor.
 * Effective in a stack whose `allocateLogicalId` is `flatLogicalId`.
 */
export function keepChildLogicalIds(construct: IConstruct): void {
  flattened.add(construct);
}

/**
 * The logical ID of `element` with every flattened construct left out of its path, and with the unique id
 * (`Names.nodeUniqueId`) of each flattened construct's child replaced by the one it had as the stack's own
 * child: aws-cdk-lib names some constructs after another construct's unique id (an SNS subscription after its
 * topic, an SQS event source after its queue), and those must not move either.
 */
export function flatLogicalId(element: IConstruct, stack: IConstruct): string {
  const renames: [string, string][] = [];
  for (const construct of stack.node.children) {
    if (!flattened.has(construct)) continue;
    for (const child of construct.node.children) {
      renames.push([Names.nodeUniqueId(child.node), makeUniqueId([stack.node.id, child.node.id])]);
    }
  }
  const scopes = element.node.scopes;
  const path = scopes
    .slice(scopes.indexOf(stack) + 1)
    .filter((scope) => !flattened.has(scope))
    .map((scope) => {
      let id = scope.node.id;
      for (const [now, before] of renames) id = id.split(now).join(before);
      return id;
    });
  return makeUniqueId(path);
}
