// Realistic filler for the labelled corpus (search-questions.ts): more calls, reservations,
// guest messages and chat about the same five listings, in the same words (boilers, towels,
// lockboxes, late check-outs, refunds), by other people and at other times. Look-alikes, never
// answers: a distractor shares a question's place or its topic, never both (EXCLUDED pairs the
// topic of every labelled question with its listing), and never a labelled person's full name.
// The records have the labelled corpus's shapes, so `webhooksOf` sends them as webhooks
// (bench:cost) and `indexChunks` indexes them as the pipeline does (bench:search).
import { prng } from "./prng.ts";
import { corpus, type CorpusRecord } from "./search-questions.ts";

export const LISTINGS = ["Porto Riverside Flat", "Lisbon Alfama Loft", "Lisbon Baixa Studio", "Sintra Garden House", "Cascais Beach Apartment"] as const;
type Listing = (typeof LISTINGS)[number];
const SHORT: Record<Listing, string[]> = {
  "Porto Riverside Flat": ["Porto flat", "Porto Riverside", "riverside flat in Porto"],
  "Lisbon Alfama Loft": ["Alfama loft", "the loft in Alfama", "Alfama Loft"],
  "Lisbon Baixa Studio": ["Baixa studio", "the studio in Baixa", "Baixa Studio"],
  "Sintra Garden House": ["Sintra house", "the garden house", "Sintra Garden House"],
  "Cascais Beach Apartment": ["Cascais apartment", "the beach apartment", "Cascais flat"],
};

type Topic = {
  key: string;
  /** Listings where a labelled question asks about this topic: no distractor goes there. */
  notAt: readonly Listing[];
  /** What a guest says (on the phone or in a message). */
  guest: readonly string[];
  /** What the host or an agent answers. */
  host: readonly string[];
  /** What staff write in chat. */
  chat: readonly string[];
};

// {L}: the listing's name, {S}: a short name, {staff}: a colleague, {time}: a time of day, {n}: a small number.
const TOPICS: readonly Topic[] = [
  {
    key: "boiler",
    notAt: ["Porto Riverside Flat"],
    guest: ["The boiler is not working, there is no hot water in the shower.", "The boiler display shows a red light and the water is cold.", "We have no hot water since this morning, I think the boiler stopped."],
    host: ["I'm sorry about the boiler, {staff} will come by {time} to look at it.", "Please check the boiler pressure, it should be around 1.5 bar."],
    chat: ["{S} boiler: pressure was low again, I topped it up to {n} bar.", "Boiler at the {S} needs a service before the next guests, booked the technician for {time}."],
  },
  {
    key: "heating",
    notAt: ["Lisbon Alfama Loft"],
    guest: ["The radiators are cold and the heating does not come on.", "It's chilly in the evening, how does the heating work?"],
    host: ["The thermostat is in the hallway, set it to 22 degrees and wait half an hour.", "There's an electric heater in the wardrobe you can use tonight."],
    chat: ["{S} heating checked, the thermostat was set to summer mode.", "Radiators at the {S} bled and working again."],
  },
  {
    key: "towels",
    notAt: ["Lisbon Baixa Studio"],
    guest: ["Could we get some extra towels, we only found two small ones?", "There are no bath towels in the bathroom."],
    host: ["Extra towels are in the top drawer of the wardrobe.", "{staff} will bring fresh towels by {time}."],
    chat: ["Laundry delivered {n} sets of towels to the {S}.", "{S} turnover: towels and sheets replaced, all good."],
  },
  {
    key: "keys",
    notAt: ["Lisbon Baixa Studio"],
    guest: ["I can't find the spare key, is there another set?", "The front door key is stuck in the lock."],
    host: ["The spare key is in the kitchen drawer next to the fridge.", "{staff} will bring a second set of keys at {time}."],
    chat: ["Made {n} new copies of the {S} front door key.", "Key for the {S} mailbox is missing, please check after checkout."],
  },
  {
    key: "lockbox",
    notAt: ["Lisbon Alfama Loft"],
    guest: ["The lockbox code you sent does not open the box.", "Which lockbox is ours, there are two next to the door?"],
    host: ["The lockbox code changes for each stay, the new one is in your check-in message.", "Turn the dials and press the lever down firmly."],
    chat: ["Changed the {S} lockbox code after the last guests.", "{S} lockbox battery is weak, replace it this week."],
  },
  {
    key: "wifi",
    notAt: ["Lisbon Baixa Studio", "Lisbon Alfama Loft"],
    guest: ["The wifi is very slow in the bedroom.", "Which network is the wifi, I see several?"],
    host: ["The router is under the TV, restarting it usually helps.", "The wifi details are on the card on the fridge."],
    chat: ["Replaced the router at the {S}, wifi is faster now.", "Guests at the {S} say the wifi drops at night, check the repeater."],
  },
  {
    key: "late-checkout",
    notAt: ["Lisbon Baixa Studio", "Lisbon Alfama Loft", "Sintra Garden House"],
    guest: ["Could we have a late check-out on our last day, our train leaves in the evening?", "Is it possible to leave at 1pm instead of 11?"],
    host: ["A late check-out until noon is fine, please leave the keys on the table.", "Sorry, new guests arrive that day, so check-out stays at 11am."],
    chat: ["{S} guests asked for a late check-out on {day}, cleaning moved to {time}.", "Late check-out at the {S} approved until noon."],
  },
  {
    key: "early-checkin",
    notAt: ["Sintra Garden House"],
    guest: ["We land early, can we check in before 3pm?", "Could we drop our bags in the morning?"],
    host: ["Early check-in depends on the cleaning, we'll confirm on the day.", "You can leave your bags from 10am."],
    chat: ["{S}: early check-in requested for {day}, can the cleaning start at 9?", "Bags dropped at the {S} at 10am, guests back at 3."],
  },
  {
    key: "refund",
    notAt: ["Cascais Beach Apartment", "Lisbon Baixa Studio", "Lisbon Alfama Loft"],
    guest: ["I was charged twice for the cleaning, could you refund one of them?", "We cancelled one night, when will the refund arrive?"],
    host: ["The refund was sent today and takes five to seven days to arrive.", "I've asked accounting to check the double charge."],
    chat: ["Refund of {n}0 euros for the {S} guests approved.", "Accounting asks about the refund for the {S} cancellation."],
  },
  {
    key: "deposit",
    notAt: ["Cascais Beach Apartment", "Lisbon Alfama Loft"],
    guest: ["When will the security deposit be released?", "Was the damage deposit returned already?"],
    host: ["The deposit hold is released seven days after check-out.", "The deposit went back to your card yesterday."],
    chat: ["No damage at the {S}, release the deposit.", "{S}: keep {n}0 euros of the deposit for the broken glass."],
  },
  {
    key: "noise",
    notAt: ["Porto Riverside Flat", "Lisbon Alfama Loft"],
    guest: ["The neighbours are very loud at night.", "There is construction noise next door from 8am."],
    host: ["Sorry about the noise, there are earplugs in the nightstand.", "The works next door should end this week."],
    chat: ["Neighbour of the {S} complained about music after 11pm.", "Reminded the {S} guests about quiet hours."],
  },
  {
    key: "cleaning",
    notAt: ["Cascais Beach Apartment"],
    guest: ["The flat wasn't very clean when we arrived, there was dust under the beds.", "Could someone clean the kitchen mid-stay?"],
    host: ["I'm sorry, our cleaner will come back at {time} to fix it.", "A mid-stay cleaning costs 40 euros, shall I book it?"],
    chat: ["{S} cleaned and ready for check-in.", "{S} turnover took longer, stains on the carpet, need the upholstery guy."],
  },
  {
    key: "baby",
    notAt: ["Porto Riverside Flat"],
    guest: ["Do you have a high chair for our toddler?", "Could you set up a travel cot in the second bedroom?"],
    host: ["There is a travel cot in the storage room, {staff} will set it up.", "A high chair is in the kitchen cupboard."],
    chat: ["Put the travel cot in the {S} for the family arriving {day}.", "{S} needs a new high chair, the old one is wobbly."],
  },
  {
    key: "arrival-transport",
    notAt: ["Porto Riverside Flat", "Sintra Garden House"],
    guest: ["How do we get from the airport to the apartment?", "Which metro station is closest to you?"],
    host: ["A taxi from the airport takes about 25 minutes.", "The closest station is five minutes on foot."],
    chat: ["Airport pickup for the {S} guests booked for {time}.", "Guests of the {S} arriving by bus around {time}."],
  },
  {
    key: "parking",
    notAt: ["Sintra Garden House"],
    guest: ["Is there parking near the apartment?", "Where can we leave the rental car?"],
    host: ["There is a public garage two streets away, about 15 euros a day.", "Street parking is free after 7pm."],
    chat: ["{S} guests asked about parking, sent them the garage address.", "Parking permit for the {S} expired, renew it."],
  },
  {
    key: "air-conditioning",
    notAt: [],
    guest: ["The air conditioning in the bedroom is dripping water.", "The AC remote doesn't work."],
    host: ["The remote needs new batteries, they are in the kitchen drawer.", "{staff} will check the AC unit at {time}."],
    chat: ["{S} AC serviced, filters cleaned.", "AC at the {S} leaking again, call the technician."],
  },
  {
    key: "appliances",
    notAt: [],
    guest: ["The washing machine won't start.", "The oven doesn't heat up."],
    host: ["The washing machine needs the door pushed firmly until it clicks.", "The oven has a child lock, hold the key button for 3 seconds."],
    chat: ["Washing machine at the {S} repaired.", "{S} fridge is making noise, check on {day}."],
  },
  {
    key: "checkin-instructions",
    notAt: [],
    guest: ["What time can we check in?", "Could you send the address and the check-in instructions?"],
    host: ["Check-in is from 3pm, the instructions come the day before.", "The address and door code are in your reservation messages."],
    chat: ["Sent check-in instructions to the {S} guests for {day}.", "{S}: guests arriving at {time}, self check-in."],
  },
];

const STAFF = ["Bruno", "Ana", "Pedro", "Carla", "Rui", "Inês", "Beatriz", "Tiago"];
const AGENTS = ["Rui Almeida", "Inês Costa", "Pedro Nunes", "Beatriz Lopes"];
const CHAT_USERS = ["ana.sousa", "pedro.nunes", "carla.mendes", "bruno.carvalho", "ines.costa", "rui.almeida", "beatriz.lopes"];
const FIRST_NAMES = ["Maria", "Sophie", "Daniel", "Emma", "Lucas", "Olivia", "Noah", "Ava", "Liam", "Mia", "Ethan", "Isabel", "Mateo", "Camila", "Leon", "Clara", "Hugo", "Alice", "Paul", "Julia", "Marco", "Elena", "Finn", "Sara", "Jonas", "Lea", "Rafael", "Nina", "Oscar", "Eva"];
const LAST_NAMES = ["García", "Müller", "Dubois", "Smith", "Johnson", "Silva", "Nowak", "Jensen", "Kowalski", "Bianchi", "Moreau", "Fischer", "Novak", "Andersen", "Hughes", "Walker", "Lindqvist", "Marques", "Duarte", "Vieira"];
const CHANNELS = ["airbnb2", "bookingCom", "manual", "vrbo"] as const;
const STATUSES = ["confirmed", "confirmed", "confirmed", "inquiry", "canceled"] as const;
/** Rooms of the labelled corpus (their windows stay the corpus's own) and rooms of its own. */
const ROOMS = [
  { id: "XguJKEahvPuwKCRCu", name: "ops" },
  { id: "gUhQF6KoLMzMgUPOZ", name: "cleaning" },
  { id: "kklOeAMaTFb4e8MBb", name: "maintenance" },
  { id: "fLr2Qw8VnX0pTz4Ka", name: "porto-team" },
  { id: "b7YcM1eQs9HjK3uDn", name: "lisbon-team" },
  { id: "Zt5uW0aPq2LmN8xRe", name: "front-desk" },
];

/** Full names of the labelled corpus: never a distractor's. */
const LABELLED_NAMES = new Set(
  corpus.flatMap((record) => (record.kind === "call" ? [record.contactName] : record.kind === "reservation" || record.kind === "guest-message" ? [record.guestName] : [])),
);

/** The six-hour chat windows the labelled corpus's chat falls in, by room: filler stays out of them. */
const CHAT_WINDOW_MS = 6 * 3600 * 1000;
const corpusWindows = new Set(corpus.flatMap((record) => (record.kind === "chat" ? [`${record.roomId}:${Math.floor(Date.parse(record.sentAt) / CHAT_WINDOW_MS)}`] : [])));

// Two years around the corpus's summer of 2026.
const FROM = Date.parse("2025-01-01T00:00:00Z");
const SPAN = 2 * 365 * 24 * 3600 * 1000;

export type DistractorOptions = { seed?: number };

/** An endless, reproducible stream of distractor records (seeded; the same seed, the same records). */
export function* distractors(options: DistractorOptions = {}): Generator<CorpusRecord> {
  const random = prng(options.seed ?? 26);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const hex = (length: number) => Array.from({ length }, () => "0123456789abcdef"[Math.floor(random() * 16)]).join("");
  const alnum = (length: number) => Array.from({ length }, () => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(random() * 62)]).join("");
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const guestName = () => {
    for (;;) {
      const name = `${pick(FIRST_NAMES)} ${pick(LAST_NAMES)}`;
      if (!LABELLED_NAMES.has(name)) return name;
    }
  };
  /** A topic and a listing it may be about. */
  const subject = () => {
    for (;;) {
      const topic = pick(TOPICS);
      const listing = pick(LISTINGS);
      if (!topic.notAt.includes(listing)) return { topic, listing };
    }
  };
  const fill = (template: string, listing: Listing) =>
    template
      .replaceAll("{L}", listing)
      .replaceAll("{S}", pick(SHORT[listing]))
      .replaceAll("{staff}", pick(STAFF))
      .replaceAll("{time}", pick(["9am", "10am", "noon", "2pm", "4pm", "6pm", "7:30pm"]))
      .replaceAll("{day}", pick(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]))
      .replaceAll("{n}", String(2 + Math.floor(random() * 6)));
  const phone = () => `+3519${String(Math.floor(random() * 1e8)).padStart(8, "0")}`;
  let callId = 7_000_000;
  /** Recent thread openers per room: a reply follows its opener within two days. */
  const threads = new Map<string, { id: string; at: number }[]>();

  for (;;) {
    const at = FROM + Math.floor(random() * SPAN);
    const roll = random();
    if (roll < 0.22) {
      const { topic, listing } = subject();
      const contact = guestName();
      const agent = pick(AGENTS);
      const agentFirst = agent.split(" ")[0]!;
      const turns = [
        `${agent}: Edge Stays, good ${pick(["morning", "afternoon", "evening"])}, ${agentFirst} speaking.`,
        `${contact}: Hi, this is ${contact}, I'm staying at the ${pick([listing, ...SHORT[listing]])}.`,
        ...Array.from({ length: 1 + Math.floor(random() * 3) }, () => `${contact}: ${fill(pick(topic.guest), listing)}`),
        `${agent}: ${fill(pick(topic.host), listing)}`,
        ...(random() < 0.5 ? [`${contact}: ${fill(pick(topic.guest), listing)}`, `${agent}: ${fill(pick(topic.host), listing)}`] : []),
        `${contact}: ${pick(["Thanks a lot.", "Okay, thank you.", "Perfect, see you then.", "Great, thanks."])}`,
      ];
      yield {
        key: `filler-call-${callId}`,
        kind: "call",
        callId: callId++,
        direction: random() < 0.8 ? "inbound" : "outbound",
        startedAt: iso(at),
        durationSeconds: 60 + Math.floor(random() * 400),
        agentName: agent,
        contactName: contact,
        externalNumber: phone(),
        transcript: turns,
      };
    } else if (roll < 0.42) {
      const checkIn = new Date(at).toISOString().slice(0, 10);
      const nights = 1 + Math.floor(random() * 10);
      yield {
        key: `filler-res-${hex(8)}`,
        kind: "reservation",
        reservationId: hex(24),
        confirmationCode: random() < 0.5 ? `HM${alnum(8).toUpperCase()}` : `${Math.floor(1e9 + random() * 9e9)}`,
        guestName: guestName(),
        listingName: pick(LISTINGS),
        checkIn,
        checkOut: new Date(at + nights * 86_400_000).toISOString().slice(0, 10),
        guestsCount: 1 + Math.floor(random() * 6),
        channel: pick(CHANNELS),
        status: pick(STATUSES),
      };
    } else if (roll < 0.67) {
      // A short conversation: the guest asks, the host answers, sometimes once more.
      const { topic, listing } = subject();
      const guest = guestName();
      const reservationId = hex(24);
      const conversationId = hex(24);
      const messages = 1 + Math.floor(random() * 3);
      for (let i = 0; i < messages; i += 1) {
        const received = i % 2 === 0;
        const body = received
          ? `${i === 0 ? pick(["Hi! ", "Hello, ", "Good morning, ", "Olá! ", ""]) + `we're at the ${pick(SHORT[listing])}. ` : ""}${fill(pick(topic.guest), listing)}`
          : `Hi ${guest.split(" ")[0]}, ${fill(pick(topic.host), listing)}`;
        yield {
          key: `filler-gmsg-${hex(8)}`,
          kind: "guest-message",
          messageId: hex(24),
          conversationId,
          reservationId,
          guestName: guest,
          direction: received ? "received" : "sent",
          sentAt: iso(at + i * 1_800_000),
          body,
        };
      }
    } else {
      const room = pick(ROOMS);
      const messageId = alnum(17);
      const roots = threads.get(room.id) ?? [];
      // A fifth of the messages answer an earlier message of the room in its thread.
      const root = roots.length > 0 && random() < 0.2 ? pick(roots) : undefined;
      const sentAt = root ? root.at + Math.floor(random() * 2 * 86_400_000) : at;
      if (!root && corpusWindows.has(`${room.id}:${Math.floor(sentAt / CHAT_WINDOW_MS)}`)) continue;
      const { topic, listing } = subject();
      if (!root) {
        roots.push({ id: messageId, at: sentAt });
        if (roots.length > 50) roots.shift();
        threads.set(room.id, roots);
      }
      const threadId = root?.id;
      yield {
        key: `filler-chat-${messageId}`,
        kind: "chat",
        messageId,
        roomId: room.id,
        roomName: room.name,
        userName: pick(CHAT_USERS),
        sentAt: iso(sentAt),
        ...(threadId ? { threadId } : {}),
        text: fill(pick(topic.chat), listing),
      };
    }
  }
}
