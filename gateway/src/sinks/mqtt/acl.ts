/**
 * Who may publish and subscribe to what on the embedded broker (PURE).
 *
 *  - `device`  publishes only its own `<base>/<device>/up`; reads only its own `<base>/<device>/set/#`.
 *  - `app`, `nodered`, `upstream`  read state, availability, event, alarm and gateway status;
 *    publish nothing under `<prefix>/` (they may use topics outside the gateway's namespace).
 *  - `admin`  reads everything (incl. `$SYS`) and publishes everything EXCEPT the gateway's own
 *    output topics (state, availability, event, alarm, gateway status): those are written by the
 *    gateway alone, so a retained alarm or state on them can be trusted. A config grant opens them.
 *  - anonymous (only when `allowAnonymous`)  reads state, availability, event and gateway status.
 *  - extra `publish` / `subscribe` filters in a user's config grant more, never less.
 *
 * Commands (`<base>/<device>/set/<command>`) are therefore accepted only from admin or from a
 * client granted that topic. Nobody publishes to `$`-topics.
 *
 * A subscription is granted when its filter can match at least one readable topic; each
 * delivery is then checked against the same rules (`canRead`), so `shouwang/#` works for an app
 * but only carries what the app may see.
 */
import type { MqttUserConfig } from '../../config/schema.js';
import { filtersOverlap, isValidFilter, isValidTopic, topicMatches } from './topic-filter.js';
import { RESERVED_DEVICE_IDS, TOPIC_WORDS, type Topics } from './topics.js';

export type MqttRole = MqttUserConfig['role'];

export interface AclIdentity {
  username: string;
  role: MqttRole | 'anonymous';
  /** For role `device`: the device this client is. */
  device?: string;
  /** Extra filters granted by config. */
  publish: readonly string[];
  subscribe: readonly string[];
}

/**
 * A readable filter, optionally excluding literal words at one level. The topic tree puts device
 * ids and alarm ids at the same depth as each other's fixed words (`<base>/alarm/<id>` vs
 * `<base>/<device>/set`), so a plain overlap test would let an app subscribe to
 * `<base>/+/set/#` "because an alarm could be called `set`". Alarm ids are never topic words and
 * devices are never called `alarm`/`gateway`, so those overlaps are excluded.
 */
interface ReadPattern {
  filter: string;
  exclude?: { level: number; words: readonly string[] };
}

export const ANONYMOUS: AclIdentity = Object.freeze({ username: '', role: 'anonymous', publish: [], subscribe: [] });

export class Acl {
  private readonly prefix: string;

  constructor(private readonly topics: Topics) {
    this.prefix = topics.scheme.prefix;
  }

  canPublish(id: AclIdentity, topic: string): boolean {
    if (!isValidTopic(topic) || topic.startsWith('$')) return false;
    if (id.publish.some((f) => topicMatches(f, topic))) return true;
    const parsed = this.topics.parse(topic);
    switch (id.role) {
      case 'admin':
        return !(parsed && parsed.kind !== 'set' && parsed.kind !== 'up');
      case 'device':
        return parsed?.kind === 'up' && id.device !== undefined && parsed.device === id.device;
      case 'app':
      case 'nodered':
      case 'upstream':
        return !this.inNamespace(topic);
      case 'anonymous':
        return false;
    }
  }

  /** May this client receive a message on `topic`? */
  canRead(id: AclIdentity, topic: string): boolean {
    if (id.role === 'admin') return true;
    const levels = topic.split('/');
    if (this.readPatterns(id).some((p) => topicMatches(p.filter, topic) && !excluded(p, levels))) return true;
    return this.readsOutsideNamespace(id) && !topic.startsWith('$') && !this.inNamespace(topic);
  }

  /** May this client subscribe to `filter`? (Deliveries are still checked with canRead.) */
  canSubscribe(id: AclIdentity, filter: string): boolean {
    if (!isValidFilter(filter)) return false;
    if (id.role === 'admin') return true;
    const levels = filter.split('/');
    if (this.readPatterns(id).some((p) => filtersOverlap(p.filter, filter) && !excluded(p, levels))) return true;
    if (!this.readsOutsideNamespace(id)) return false;
    const first = levels[0]!;
    // Could the filter match a topic outside `<prefix>/`?
    return first === '+' || first === '#' ? true : !first.startsWith('$') && first !== this.prefix;
  }

  /** What a client may read inside the gateway's namespace (plus its grants). */
  readPatterns(id: AclIdentity): ReadPattern[] {
    const base = this.topics.base;
    const deviceLevel = base.split('/').length;
    const perDevice = (suffix: string): ReadPattern => ({ filter: `${base}/+/${suffix}`, exclude: { level: deviceLevel, words: RESERVED_DEVICE_IDS } });
    const alarms: ReadPattern = { filter: `${base}/alarm/+`, exclude: { level: deviceLevel + 1, words: TOPIC_WORDS } };
    const own: ReadPattern[] = [];
    switch (id.role) {
      case 'admin':
        own.push({ filter: '#' }, { filter: '$SYS/#' });
        break;
      case 'device':
        if (id.device !== undefined) own.push({ filter: this.topics.setFilter(id.device) });
        break;
      case 'app':
      case 'nodered':
      case 'upstream':
        // The gateway's own health and alarm-path supervision are for the people watching it too.
        own.push(
          perDevice('state'),
          perDevice('availability'),
          perDevice('event'),
          alarms,
          { filter: this.topics.gatewayStatus() },
          { filter: this.topics.gatewayHealth() },
          { filter: `${base}/gateway/path/+` },
        );
        break;
      case 'anonymous':
        own.push(perDevice('state'), perDevice('availability'), perDevice('event'), { filter: this.topics.gatewayStatus() });
        break;
    }
    return [...own, ...id.subscribe.map((filter) => ({ filter }))];
  }

  private readsOutsideNamespace(id: AclIdentity): boolean {
    return id.role === 'app' || id.role === 'nodered' || id.role === 'upstream';
  }

  private inNamespace(topic: string): boolean {
    return topic === this.prefix || topic.startsWith(`${this.prefix}/`);
  }
}

/** The filter/topic has, at the pattern's excluded level, a literal word that cannot be there. */
function excluded(p: ReadPattern, levels: readonly string[]): boolean {
  if (!p.exclude) return false;
  const word = levels[p.exclude.level];
  return word !== undefined && word !== '+' && word !== '#' && p.exclude.words.includes(word);
}
