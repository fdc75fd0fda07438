// Per-policy triggers: poll the selected pods' memory every pollIntervalSeconds
// (or run every poll in continuous mode), run the cron schedule with
// node-cron, and never let two defenses of one policy overlap.
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { DefensePolicy } from '../../api/v1alpha1/index.js';
import type { DefenseRunner, TriggerInfo } from './defense-runner.js';

interface PolicyTriggers {
  configKey: string;
  timer?: NodeJS.Timeout;
  task?: ScheduledTask;
  busy: boolean;
  policy: DefensePolicy;
}

export interface TriggerSchedulerDeps {
  runner: DefenseRunner;
  logger: Logger;
  /** The freshest copy of a policy (from the informer cache). */
  getPolicy: (key: string) => DefensePolicy | undefined;
}

export class TriggerScheduler {
  private readonly byKey = new Map<string, PolicyTriggers>();

  constructor(private readonly deps: TriggerSchedulerDeps) {}

  /** The schedule is checked up front so the policy's status can say why it is invalid. */
  static validSchedule(expr: string | undefined): boolean {
    return expr === undefined || cron.validate(expr);
  }

  /** Create or reconfigure the triggers of a policy; a no-op when nothing relevant changed. */
  ensure(key: string, policy: DefensePolicy): void {
    const { spec } = policy;
    const configKey = JSON.stringify([spec.trigger, spec.targetSelector ?? null]);
    const current = this.byKey.get(key);
    if (current && current.configKey === configKey) {
      current.policy = policy;
      return;
    }
    this.remove(key);
    const entry: PolicyTriggers = { configKey, busy: false, policy };
    const pollMs = spec.trigger.pollIntervalSeconds * 1000;
    if (spec.trigger.continuous || spec.targetSelector) {
      entry.timer = setInterval(() => void this.poll(key), pollMs);
      entry.timer.unref?.();
    }
    if (spec.trigger.schedule && cron.validate(spec.trigger.schedule)) {
      entry.task = cron.schedule(spec.trigger.schedule, () => void this.fire(key, { reason: 'schedule' }), { name: `floodgate-${key}` });
    }
    this.byKey.set(key, entry);
  }

  private async poll(key: string): Promise<void> {
    const entry = this.byKey.get(key);
    if (!entry || entry.busy) return;
    const policy = this.deps.getPolicy(key) ?? entry.policy;
    if (policy.spec.trigger.continuous) {
      await this.fire(key, { reason: 'continuous' });
      return;
    }
    try {
      const trigger = await this.deps.runner.memoryTrigger(policy);
      if (trigger) await this.fire(key, trigger);
    } catch (err) {
      this.deps.logger.warn({ policy: key, err: (err as Error).message }, 'memory poll failed');
    }
  }

  /** Run one defense unless one is already running for this policy. */
  async fire(key: string, trigger: TriggerInfo): Promise<boolean> {
    const entry = this.byKey.get(key);
    const policy = this.deps.getPolicy(key) ?? entry?.policy;
    if (!policy) return false;
    if (entry?.busy) return false;
    if (entry) entry.busy = true;
    try {
      await this.deps.runner.defend(policy, trigger);
      return true;
    } catch (err) {
      this.deps.logger.error({ policy: key, err }, 'defense failed');
      return false;
    } finally {
      if (entry) entry.busy = false;
    }
  }

  remove(key: string): void {
    const entry = this.byKey.get(key);
    if (!entry) return;
    if (entry.timer) clearInterval(entry.timer);
    void entry.task?.destroy();
    this.byKey.delete(key);
  }

  stop(): void {
    for (const key of [...this.byKey.keys()]) this.remove(key);
  }
}
