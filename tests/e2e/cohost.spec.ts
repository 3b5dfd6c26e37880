/**
 * Co-hosting with three guests: the host mutes one, turns another's camera
 * off, locks a seat and removes one. Checked in the studio, in the stream's
 * rows as the host sees them, and by decoding the program at the ingest:
 * tiles, sources, avatar tile, and each participant's tone in the audio.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import type { Browser, Page } from 'playwright-core';
import { gridLayout } from '../../src/shared/layout';
import type { GuestSeatRow } from '../../src/shared/domain';
import { startApp, type RunningApp } from '../support/app';
import { launchChromium } from '../support/chromium';
import { appState, guestAccepts, guestSignsIn, hostGoesLive, hostInvites, logConsole, recordHeard } from '../support/flows';
import { bandLevel, colourClip, frameRgb, patch, recordRtmp, toneClip } from '../support/media';

const FIXTURES = join(process.cwd(), 'test-results', 'fixtures');
const OUT = join(process.cwd(), 'test-results', 'e2e');

interface Person {
  name: string;
  colour: string;
  rgb: [number, number, number];
  tone: number;
}
const HOST: Person = { name: 'Hana Host', colour: '0xE03020', rgb: [224, 48, 32], tone: 440 };
const GUESTS: Person[] = [
  { name: 'Mia Muted', colour: '0x20B040', rgb: [32, 176, 64], tone: 620 },
  { name: 'Cam Off', colour: '0x2050E0', rgb: [32, 80, 224], tone: 830 },
  { name: 'Rex Removed', colour: '0xE0C020', rgb: [224, 192, 32], tone: 1180 },
];

let app: RunningApp;
const browsers: Browser[] = [];

test.beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  app = await startApp();
  for (const [i, p] of [HOST, ...GUESTS].entries()) {
    const video = colourClip(FIXTURES, `p${i}`, p.colour, i === 0 ? 640 : 320, i === 0 ? 360 : 180);
    browsers.push(await launchChromium(video, toneClip(FIXTURES, `p${i}`, p.tone)));
  }
});

test.afterAll(async () => {
  for (const b of browsers) await b.close();
  await app?.stop();
});

const near = (a: number[], b: number[], tolerance = 45) => a.every((v, i) => Math.abs(v - b[i]!) <= tolerance);

/** Centres of the program tiles for n participants. */
function tileCentres(n: number): Array<[number, number]> {
  return gridLayout(Array.from({ length: n }, (_, i) => ({ id: String(i), width: 640, height: 360 })), 1280, 720).map((it) => [
    Math.round(it.rect.x + it.rect.width / 2),
    Math.round(it.rect.y + it.rect.height / 2),
  ]);
}

/** Four seconds of what a guest's page plays from the host, as a file in the results. */
async function recordToFile(page: Page, name: string): Promise<string> {
  const file = join(OUT, name);
  await recordHeard(page, 'program-view', 4, file);
  return file;
}

async function seatAction(host: Page, userId: string, label: string): Promise<void> {
  await host.locator(`[data-testid^="seat-"][data-user="${userId}"]`).click();
  const item = host.getByTestId('seat-menu').getByRole('menuitem', { name: label });
  await item.click();
  if (label === 'Remove from stage') {
    // A removal asks to be sure first: the guest is still on stage until the second click.
    const sure = host.getByTestId('seat-menu').getByRole('menuitem', { name: /^Sure\? Remove/ });
    await expect(sure).toHaveText('Sure? Remove');
    expect(await seatOf(host, userId)).toBeDefined();
    await sure.click();
  }
}

async function seatOf(host: Page, userId: string): Promise<GuestSeatRow | undefined> {
  const seats = await appState<GuestSeatRow[]>(host, 'seats');
  return seats.find((s) => s.user_id === userId && s.left_at === null);
}

test('host moderates three guests; the program follows', async () => {
  const host = await browsers[0]!.newPage({ viewport: { width: 1280, height: 900 } });
  logConsole(host, 'host');
  // The program worker counts the camera frames it receives and closes (checked at the end).
  const audited = new URL(app.studioUrl); // the query goes before the studio's #/studio route
  audited.searchParams.set('auditFrames', '1');
  const { publishUrl } = await hostGoesLive(host, audited.toString(), HOST.name);

  const guestPages: Page[] = [];
  const ids: string[] = [];
  for (const [i, g] of GUESTS.entries()) {
    const page = await browsers[i + 1]!.newPage({ viewport: { width: 480, height: 720 } });
    logConsole(page, g.name);
    ids.push(await guestSignsIn(page, app.guestUrl, g.name));
    await hostInvites(host, ids[i]!);
    await guestAccepts(page);
    guestPages.push(page);
  }
  for (const id of ids) await expect(host.locator(`[data-user="${id}"]`).getByTestId('link-state')).toHaveText('connected', { timeout: 60_000 });
  // Each connected guest's tile grades their connection from the link's own counters, figures in its tooltip.
  for (const id of ids) {
    const grade = host.locator(`[data-user="${id}"]`).getByTestId('link-quality');
    await expect(grade).toHaveAttribute('data-grade', /^(good|fair|poor)$/, { timeout: 30_000 });
    await expect(grade).toHaveAttribute('title', /loss \d+\.\d % · round trip \d+ ms · camera \d+ fps received( · \d+ freezes?)?$/);
  }

  // The guests see the program with four tiles; check each tile's colour on one guest's view
  // (averaged over a patch: colours through two encodes drift a little).
  const centres4 = tileCentres(4);
  let seen: number[][] = [];
  await expect
    .poll(
      async () => {
        seen = await guestPages[0]!.$eval(
          '[data-testid="program-view"]',
          (el, centres) => {
            const v = el as HTMLVideoElement;
            const c = document.createElement('canvas');
            c.width = 1280;
            c.height = 720;
            const ctx = c.getContext('2d')!;
            ctx.drawImage(v, 0, 0, 1280, 720);
            return centres.map(([x, y]) => {
              const d = ctx.getImageData(x! - 8, y! - 8, 16, 16).data;
              const sum = [0, 0, 0];
              for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k]! += d[i + k]!;
              return sum.map((v2) => v2 / (d.length / 4));
            });
          },
          centres4,
        );
        return seen.every((rgb, i) => near(rgb, [HOST, ...GUESTS][i]!.rgb, 70));
      },
      { timeout: 90_000, intervals: [1000] },
    )
    .toBe(true)
    .catch((err: Error) => {
      throw new Error(`${err.message}\nlast tile colours seen by the guest: ${JSON.stringify(seen.map((c) => c.map(Math.round)))}`);
    });

  // What a guest hears: the host and the other guests, not themselves (the host mixes one track per guest).
  const listener = GUESTS[1]!;
  const heard = (file: string) => Object.fromEntries([HOST, ...GUESTS].map((p) => [p.name, bandLevel(file, p.tone, 1)]));
  const heardBefore = heard(await recordToFile(guestPages[1]!, 'heard-by-guest-4.webm'));
  console.log(`heard by ${listener.name} (dB by tone):`, heardBefore);
  for (const p of [HOST, GUESTS[0]!, GUESTS[2]!]) expect(heardBefore[p.name], `${p.name} heard by ${listener.name}`).toBeGreaterThan(-70);
  const others = Math.min(heardBefore[HOST.name]!, heardBefore[GUESTS[0]!.name]!, heardBefore[GUESTS[2]!.name]!);
  expect(heardBefore[listener.name], 'their own voice sent back').toBeLessThan(others - 15);

  // Host actions.
  await seatAction(host, ids[0]!, 'Mute mic');
  await expect.poll(async () => (await seatOf(host, ids[0]!))?.muted_by_host).toBe(true);
  await seatAction(host, ids[1]!, 'Turn camera off');
  await expect.poll(async () => (await seatOf(host, ids[1]!))?.camera_disabled_by_host).toBe(true);
  await host.getByTestId('seat-8').click();
  await host.getByTestId('seat-menu').getByRole('menuitem', { name: 'Lock seat' }).click();
  await expect(host.getByTestId('seat-8')).toHaveAttribute('data-locked', 'true');
  await expect(host.locator(`[data-user="${ids[0]}"]`).getByTestId('mic-state')).toHaveText('muted by host');
  await expect(host.locator(`[data-user="${ids[1]}"]`).getByTestId('camera-state')).toHaveText('cam off by host');
  await expect(host.getByTestId('events')).toContainText('Mia Muted was muted');
  // A guest the host muted is heard by nobody, not only left out of the program.
  const heardMuted = heard(await recordToFile(guestPages[1]!, 'heard-by-guest-muted.webm'));
  console.log(`heard by ${listener.name} after the mute (dB by tone):`, heardMuted);
  expect(heardMuted[GUESTS[0]!.name], 'the muted guest, heard by another').toBeLessThan(Math.min(heardMuted[HOST.name]!, heardMuted[GUESTS[2]!.name]!) - 15);

  // The ingest is a few seconds behind the studio on a busy machine: record until the change shows (bounded).
  const before = join(OUT, 'cohost-4.flv');
  let frame4: Buffer = Buffer.alloc(0);
  const avatarOf = (frame: Buffer) => patch(frame, 1280, centres4[2]![0], centres4[2]![1] - 140);
  // The camera-off guest shows the avatar tile (dark, not their camera).
  const showsAvatar = (frame: Buffer) => !near(avatarOf(frame), GUESTS[1]!.rgb) && avatarOf(frame).reduce((a, b) => a + b, 0) / 3 < 80;
  for (let attempt = 0; attempt < 4; attempt++) {
    await recordRtmp(publishUrl, before, 6);
    frame4 = frameRgb(before, 4, 1280, 720);
    if (showsAvatar(frame4)) break;
  }
  expect(near(patch(frame4, 1280, ...centres4[0]!), HOST.rgb)).toBe(true);
  expect(near(patch(frame4, 1280, ...centres4[1]!), GUESTS[0]!.rgb)).toBe(true);
  expect(showsAvatar(frame4), `avatar tile patch ${avatarOf(frame4)}`).toBe(true);
  expect(near(patch(frame4, 1280, ...centres4[3]!), GUESTS[2]!.rgb)).toBe(true);
  // Audio: the host and the unmuted guests are heard; the muted guest is not.
  const levels: Record<string, number> = Object.fromEntries([HOST, ...GUESTS].map((p) => [p.name, bandLevel(before, p.tone)]));
  console.log('program audio levels by tone (dB):', levels);
  // (Microphones run with noise suppression, which softens steady tones: compare levels, not absolutes.)
  expect(levels[HOST.name]).toBeGreaterThan(-70);
  expect(levels[GUESTS[1]!.name]).toBeGreaterThan(-70);
  expect(levels[GUESTS[2]!.name]).toBeGreaterThan(-70);
  expect(levels[GUESTS[0]!.name]).toBeLessThan(Math.min(levels[GUESTS[1]!.name]!, levels[GUESTS[2]!.name]!) - 15);

  await host.screenshot({ path: join(OUT, 'studio-4-guests.png'), fullPage: true });

  // A volume slider dragged through several values: the seat keeps the one it stopped at.
  await host.locator(`[data-testid^="seat-"][data-user="${ids[2]}"]`).click();
  await host.getByTestId('seat-menu').getByTestId('volume').evaluate((input: HTMLInputElement) => {
    const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
    for (const v of ['0.3', '1.2', '0.9', '1.8', '0.5']) {
      setValue.call(input, v);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    }
  });
  await host.keyboard.press('Escape');
  await expect.poll(async () => (await seatOf(host, ids[2]!))?.volume).toBe(0.5);
  await host.waitForTimeout(1000);
  expect((await seatOf(host, ids[2]!))?.volume, 'no older request lands after the last').toBe(0.5);
  // Escape gives the keyboard back to the tile; another guest's menu shows that guest's own volume.
  const tileOf = (id: string) => host.locator(`[data-testid^="seat-"][data-user="${id}"]`);
  await expect(tileOf(ids[2]!)).toBeFocused();
  await tileOf(ids[2]!).click();
  await expect(host.getByTestId('seat-menu').getByTestId('volume')).toHaveValue('0.5');
  await tileOf(ids[1]!).click();
  await expect(host.getByTestId('seat-menu').getByTestId('volume')).toHaveValue('1');
  // The arrow keys walk the menu's items, round at the ends.
  const items = host.getByTestId('seat-menu').getByRole('menuitem');
  await expect(items.first()).toBeFocused();
  await host.keyboard.press('ArrowDown');
  await expect(items.nth(1)).toBeFocused();
  await host.keyboard.press('ArrowUp');
  await host.keyboard.press('ArrowUp');
  await expect(items.last()).toBeFocused();
  // On the volume slider the arrows change the volume, and the keyboard stays there.
  const volume = host.getByTestId('seat-menu').getByTestId('volume');
  await volume.focus();
  await host.keyboard.press('ArrowUp');
  await expect(volume).toBeFocused();
  await expect(volume).toHaveValue('1.1');
  await host.keyboard.press('ArrowDown');
  await expect(volume).toHaveValue('1');
  // A change the database refuses: the error shows, and the slider goes back to the volume the seat has.
  await expect.poll(async () => (await seatOf(host, ids[1]!))?.volume).toBe(1);
  await host.route('**/rest/v1/rpc/moderate_guest', (route) =>
    route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ code: 'PGRST000', message: 'Database connection error', details: null, hint: null }) }),
  );
  await host.keyboard.press('ArrowUp');
  await expect(host.getByTestId('action-error')).toBeVisible();
  await expect(volume).toHaveValue('1');
  await host.unroute('**/rest/v1/rpc/moderate_guest');
  await host.keyboard.press('Escape');
  await expect(tileOf(ids[1]!)).toBeFocused();

  // Removal: the guest's tile and audio leave the program.
  await seatAction(host, ids[2]!, 'Remove from stage');
  await expect(host.locator(`[data-user="${ids[2]}"]`)).toHaveCount(0);
  await expect(host.getByTestId('events')).toContainText('Rex Removed was removed');
  await host.waitForTimeout(2000);
  const after = join(OUT, 'cohost-3.flv');
  await recordRtmp(publishUrl, after, 6);
  const frame3 = frameRgb(after, 3, 1280, 720);
  const centres3 = tileCentres(3);
  expect(near(patch(frame3, 1280, ...centres3[0]!), HOST.rgb)).toBe(true);
  expect(near(patch(frame3, 1280, ...centres3[1]!), GUESTS[0]!.rgb)).toBe(true);
  // The bottom-right quadrant, where the removed guest was, is now background.
  expect(near(patch(frame3, 1280, 1240, 700), GUESTS[2]!.rgb)).toBe(false);
  // Judge the audio after the first seconds: the ingest starts a recording at the last keyframe,
  // and on a loaded machine the encoder may still be catching up with audio from before the removal.
  expect(bandLevel(after, GUESTS[2]!.tone, 3)).toBeLessThan(bandLevel(after, HOST.tone, 3) - 15);

  // A moderator: the host makes Cam Off one; their page lists the other guest on stage and moderates them.
  await seatAction(host, ids[1]!, 'Make moderator');
  const moderatorPage = guestPages[1]!;
  const panel = moderatorPage.getByTestId('moderator-panel');
  await expect(panel).toBeVisible({ timeout: 15_000 });
  const mia = panel.locator(`[data-testid="moderated-guest"][data-user="${ids[0]}"]`);
  await expect(mia).toContainText(GUESTS[0]!.name);
  // The host muted Mia: the moderator sees it as the host's, and cannot release it; Mia's page says who muted her.
  await expect(mia.getByTestId('moderated-state')).toContainText('muted by the host');
  const releaseMia = mia.getByRole('button', { name: `Release the microphone of ${GUESTS[0]!.name}` });
  await expect(releaseMia).toBeDisabled();
  await expect(releaseMia).toHaveAttribute('title', 'The host muted this microphone: only the host can release it');
  await expect(guestPages[0]!.getByTestId('host-muted')).toContainText('The host muted your microphone');
  await expect(panel.getByTestId('moderated-guest')).toHaveCount(1);
  await moderatorPage.screenshot({ path: join(OUT, 'guest-moderator.png'), fullPage: true });
  // The host releases it; a mute the moderator puts on is the moderator's to release.
  await seatAction(host, ids[0]!, 'Release mic');
  await expect(guestPages[0]!.getByTestId('host-muted')).toHaveCount(0);
  await mia.getByRole('button', { name: `Mute ${GUESTS[0]!.name}` }).click();
  await expect(guestPages[0]!.getByTestId('host-muted')).toContainText('A moderator muted your microphone');
  await expect(guestPages[0]!.getByTestId('mic-toggle')).toContainText('Muted by moderator');
  await expect(mia.getByTestId('moderated-state')).toContainText('muted by a moderator');
  await releaseMia.click();
  await expect.poll(async () => (await seatOf(host, ids[0]!))?.muted_by_host).toBe(false);
  await expect(host.getByTestId('events')).toContainText(`${GUESTS[0]!.name}’s microphone was released by ${GUESTS[1]!.name}`);
  await expect(guestPages[0]!.getByTestId('host-muted')).toHaveCount(0);
  // A removal cannot be undone: the first tap asks, the second removes.
  await mia.getByRole('button', { name: `Remove ${GUESTS[0]!.name} from the stage` }).click();
  await mia.getByRole('button', { name: `Confirm: remove ${GUESTS[0]!.name} from the stage` }).click();
  await expect(host.locator(`[data-user="${ids[0]}"]`)).toHaveCount(0);
  await expect(guestPages[0]!.getByTestId('guest-message')).toContainText('You were removed from the stage', { timeout: 15_000 });
  await expect(panel.getByTestId('moderated-guest')).toHaveCount(0);
  // Rex, whom the host removed, is the host's to invite back: the moderator is told so.
  const invites = panel.getByTestId('moderator-invites');
  await invites.getByTestId('invitee-id').fill(ids[2]!);
  await invites.getByTestId('invite').click();
  await expect(invites.getByRole('alert')).toContainText('The host removed this guest: only the host can invite them back');
  await expect(invites.getByTestId('invitations').locator('li[data-status="pending"]')).toHaveCount(0);
  // The moderator invites the guest they removed themselves from their page, and cancels it: the guest sees it come
  // and go, and the note of their removal goes with the new invitation.
  await invites.getByTestId('invitee-id').fill(ids[0]!);
  await invites.getByTestId('invite').click();
  const againLine = invites.getByTestId('invitations').locator('li').first();
  await expect(againLine).toHaveAttribute('data-status', 'pending');
  await expect(againLine).toContainText(GUESTS[0]!.name);
  await expect(guestPages[0]!.getByTestId('invitation')).toBeVisible({ timeout: 15_000 });
  await expect(guestPages[0]!.getByTestId('guest-message')).toHaveCount(0);
  await expect(host.getByTestId('invitations').locator('li').first()).toContainText(GUESTS[0]!.name);
  await againLine.getByTestId('cancel-invitation').click();
  await expect(againLine).toHaveAttribute('data-status', 'cancelled');
  await expect(guestPages[0]!.getByTestId('invitation')).toHaveCount(0, { timeout: 15_000 });
  await seatAction(host, ids[1]!, 'Revoke moderator');
  await expect(panel).toHaveCount(0, { timeout: 15_000 });

  // Through joins, a camera turned off and back, a removal: the program worker holds at most a few frames per
  // source (two waiting for the clock, one being read, one on its way), however many it received; a leak would
  // pile them up.
  const pipeline = await appState<{ frameAudit?: { received: number; unclosed: number } | null }>(host, 'pipeline');
  console.log(`program worker frames: ${JSON.stringify(pipeline.frameAudit)}`);
  expect(pipeline.frameAudit?.received ?? 0).toBeGreaterThan(0);
  expect(pipeline.frameAudit!.unclosed).toBeLessThanOrEqual(4 * 4);
});
