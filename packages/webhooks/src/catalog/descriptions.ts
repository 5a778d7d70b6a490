/** One sentence per event type: what happened on the Agent Factory platform. */
export const eventDescriptions = {
  'agent.created': 'An agent was created.',
  'agent.updated':
    "An agent's configuration changed; `changes` lists each field's old and new value.",
  'agent.deleted': 'An agent was deleted.',
  'agent.deployed': 'An agent was deployed to an environment.',
  'agent.undeployed': 'An agent was taken down from an environment.',
  'conversation.started': 'A conversation with an agent began.',
  'conversation.message':
    'A message was posted in a conversation, by the user, the agent or the system.',
  'conversation.ended': 'A conversation ended.',
  'usage.threshold': 'Usage of a metric crossed a percentage of its limit for the current period.',
  'usage.limit': 'Usage of a metric reached its limit for the current period.',
  'error.occurred': 'An error occurred in an agent or a conversation.',
  'error.resolved': 'A previously reported error was resolved.',
  'webhook.test':
    'A test delivery sent from the dashboard or `POST /v1/webhooks/{id}/test`; never sent for real activity.',
  'webhook.failing':
    "Operational: one of the account's webhooks used up every attempt of a delivery after working (its first exhausted delivery since its last success).",
  'webhook.disabled':
    "Operational: one of the account's webhooks was disabled: it answered 410 Gone, every delivery failed for the auto-disable period, or a user disabled it.",
  'webhook.recovered':
    'Operational: a failing webhook of the account delivered successfully again.',
  'webhook.certificate_expiring':
    "Operational: the TLS certificate of one of the account's webhooks expires in 14, 7 or 1 days.",
} as const;
