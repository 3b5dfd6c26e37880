/**
 * Priorities for tests that run a host and many guests on one machine. A
 * streamer's guests join from their own phones and laptops; here their pages
 * share the host's two cores, and at equal priority they took three times the
 * CPU the studio page got (host + 6: guests' renderers 103 % of a core, the
 * studio's renderer 30 % while its threads waited 1.9 s a second for a CPU),
 * so a late guest's connection could wait minutes for the host to make it.
 *
 * `Backstage` lowers the guests' browser as a whole (its autogroup: against
 * the host's browser and the app's processes) and, within it, the pages of
 * guests already on stage (their renderers' threads), so the page of the guest
 * joining now comes first among the guests. Every page still runs: the guests
 * on stage still send, receive and show the program, only later than the host
 * and the joining guest when the machine is full.
 */
import { chromiumRenderers, reniceProcess, setAutogroupNice } from './procstat';

/** The guests' browser against the host's: weight 335 to 1024 when both want more than they get. */
export const GUESTS_GROUP_NICE = 5;
/**
 * Guests on stage against the one joining (and the guests' browser, GPU and
 * audio processes): weight 110 to 1024. At nice 4 (weight 423) late guests
 * joined in 43–133 s instead of 3–38 s; a guest on stage whose link fails
 * while it is starved is brought back by the host's ICE restart.
 */
export const ON_STAGE_NICE = 10;

export class Backstage {
  private readonly lowered = new Set<number>();
  readonly groupLowered: boolean;

  constructor(private readonly guestBrowserRoot: number) {
    if (guestBrowserRoot <= 0) throw new Error('Backstage: the guests\' browser process was not found');
    this.groupLowered = setAutogroupNice(guestBrowserRoot, GUESTS_GROUP_NICE);
  }

  /** The renderer processes of the guests' browser now (a page opened since has its own among them). */
  renderers(): number[] {
    return chromiumRenderers(this.guestBrowserRoot);
  }

  /**
   * The guests who joined are on stage: their renderers (`pids`, as found
   * with `renderers()` around opening their pages), or without `pids` every
   * renderer of the guests' browser not lowered yet, are lowered now. Returns
   * how many renderers were.
   */
  onStage(pids?: readonly number[]): number {
    let count = 0;
    for (const pid of pids ?? chromiumRenderers(this.guestBrowserRoot)) {
      if (this.lowered.has(pid)) continue;
      this.lowered.add(pid);
      if (reniceProcess(pid, ON_STAGE_NICE) > 0) count += 1;
    }
    return count;
  }

  /** What was set, for a test's log. */
  describe(): string {
    const group = this.groupLowered ? `guests' browser at nice ${GUESTS_GROUP_NICE}` : "guests' browser at the host's priority (autogroups unavailable)";
    return `${group}; ${this.lowered.size} guest renderers on stage at nice ${ON_STAGE_NICE}`;
  }
}
