// Starts a Lambda invocation without waiting for it (InvocationType Event).
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';

export function asyncInvoker(functionName: string, lambda = new LambdaClient({})) {
  return async (payload: unknown): Promise<void> => {
    await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(payload)),
      }),
    );
  };
}
