import { checkSender } from './sdc/sdc-header.js';
import { TamtamError } from './errors.js';

/** MQTT topic names; docs/ARCHITECTURE.md says who publishes and subscribes what. */
export const HUB_SHARE_GROUP = 'tamtam-hub';

export const upTopic = (centre: string) => `tamtam/${checkSender(centre)}/up`;
export const downTopic = (centre: string) => `tamtam/${checkSender(centre)}/down`;
export const enrolTopic = (centre: string) => `tamtam/${checkSender(centre)}/enrol`;
export const enrolReplyTopic = (centre: string) => `tamtam/${checkSender(centre)}/enrol/reply`;

/** What the hub subscribes to; `shared` spreads SDCs over several hub processes. */
export const hubUpFilter = (shared: boolean) => `${shared ? `$share/${HUB_SHARE_GROUP}/` : ''}tamtam/+/up`;
export const hubEnrolFilter = 'tamtam/+/enrol';

export const agentClientId = (centre: string) => `tamtam-agent-${checkSender(centre)}`;

/** The centre named by a topic of the forms above. */
export function centreOfTopic(topic: string): string {
  const m = /^tamtam\/([A-Za-z0-9._-]{1,64})\/(up|down|enrol|enrol\/reply)$/.exec(topic);
  if (!m) throw new TamtamError('E_MALFORMED', `'${topic}' is not a Tamtam topic`);
  return m[1];
}
