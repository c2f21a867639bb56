// A labelled question set for the search benchmark (recall@5).
//
// The corpus is a small, made-up portfolio of five short-let properties (Lisbon Alfama Loft,
// Lisbon Baixa Studio, Porto Riverside Flat, Sintra Garden House, Cascais Beach Apartment) in
// May–August 2026: Aircall calls, Guesty reservations and guest messages, and Rocket.Chat
// messages in three rooms. It is built for near-misses: each question has two or three records
// that share most of its words (the same listing, problem, guest first name or month) but do
// not answer it, so a lexical retriever has to rank the right one above look-alikes.
//
// Every question is phrased the way staff ask in chat and is answered by exactly one record,
// named by `answerKey`. Keys are stable identifiers and deliberately say nothing about content.

export type CorpusCall = {
  key: string;
  kind: "call";
  callId: number;
  direction: "inbound" | "outbound";
  /** ISO UTC */
  startedAt: string;
  durationSeconds: number;
  agentName: string;
  contactName: string;
  /** E.164 */
  externalNumber: string;
  /** Speaker turns, each "Speaker: words". */
  transcript: string[];
};

export type CorpusReservation = {
  key: string;
  kind: "reservation";
  /** 24 hex chars */
  reservationId: string;
  confirmationCode: string;
  guestName: string;
  listingName: string;
  /** YYYY-MM-DD */
  checkIn: string;
  /** YYYY-MM-DD */
  checkOut: string;
  guestsCount: number;
  channel: "airbnb2" | "bookingCom" | "manual" | "vrbo";
  status: "confirmed" | "inquiry" | "canceled";
};

export type CorpusGuestMessage = {
  key: string;
  kind: "guest-message";
  /** 24 hex chars */
  messageId: string;
  /** 24 hex chars */
  conversationId: string;
  reservationId: string;
  guestName: string;
  direction: "received" | "sent";
  /** ISO UTC */
  sentAt: string;
  body: string;
};

export type CorpusChatMessage = {
  key: string;
  kind: "chat";
  /** 17 chars [A-Za-z0-9], like Rocket.Chat ids */
  messageId: string;
  /** 17 chars */
  roomId: string;
  roomName: string;
  userName: string;
  /** ISO UTC */
  sentAt: string;
  /** messageId of the thread's root */
  threadId?: string;
  text: string;
};

export type CorpusRecord = CorpusCall | CorpusReservation | CorpusGuestMessage | CorpusChatMessage;

export type LabelledQuestion = {
  question: string;
  /** The key of the one record whose document answers it. */
  answerKey: string;
};

// ---------------------------------------------------------------------------------------------
// Aircall calls
// ---------------------------------------------------------------------------------------------

const calls: readonly CorpusCall[] = [
  {
    key: "call-01",
    kind: "call",
    callId: 4810231,
    direction: "inbound",
    startedAt: "2026-05-19T07:42:00Z",
    durationSeconds: 312,
    agentName: "Rui Almeida",
    contactName: "João Pereira",
    externalNumber: "+351913482907",
    transcript: [
      "Rui Almeida: Good morning, Edge Stays, this is Rui speaking.",
      "João Pereira: Hi Rui, it's João Pereira, I'm staying at the Porto Riverside Flat.",
      "Rui Almeida: Hello João, how can I help?",
      "João Pereira: The boiler is broken. There's been no hot water since last night and the shower is freezing.",
      "Rui Almeida: I'm sorry about that. Is there a light or a message on the boiler display?",
      "João Pereira: There's a red light, and the pressure needle is almost at zero.",
      "Rui Almeida: Okay, please don't try to open it. I'll send our maintenance guy Bruno this morning.",
      "João Pereira: We have a baby with us, so please be quick.",
      "Rui Almeida: Understood, Bruno should be at the flat before eleven. I'll text you when he's on his way.",
      "João Pereira: Thanks, Rui.",
    ],
  },
  {
    key: "call-02",
    kind: "call",
    callId: 4810388,
    direction: "inbound",
    startedAt: "2026-05-22T19:15:00Z",
    durationSeconds: 244,
    agentName: "Inês Costa",
    contactName: "Sophie Laurent",
    externalNumber: "+33612874530",
    transcript: [
      "Inês Costa: Edge Stays, good evening, Inês speaking.",
      "Sophie Laurent: Bonsoir, this is Sophie Laurent, we're staying at the Lisbon Alfama Loft.",
      "Sophie Laurent: The radiators are cold. The heating doesn't come on at all and it gets chilly in the evening.",
      "Inês Costa: Did you turn up the thermostat in the hallway?",
      "Sophie Laurent: Yes, to 23 degrees, but its screen is blank.",
      "Inês Costa: Alright. There's an electric heater in the bedroom wardrobe you can use tonight.",
      "Sophie Laurent: Okay, I found it, thank you.",
      "Inês Costa: Our technician will come tomorrow morning to look at the heating. Is nine o'clock fine?",
      "Sophie Laurent: Nine is perfect.",
    ],
  },
  {
    key: "call-03",
    kind: "call",
    callId: 4810297,
    direction: "outbound",
    startedAt: "2026-05-19T13:05:00Z",
    durationSeconds: 268,
    agentName: "Pedro Nunes",
    contactName: "Tiago Ferreira",
    externalNumber: "+351226104392",
    transcript: [
      "Pedro Nunes: Hi Tiago, Pedro from Edge Stays. We have a boiler problem at the Porto Riverside Flat.",
      "Tiago Ferreira: Hello Pedro. What is it doing?",
      "Pedro Nunes: The pressure keeps dropping. Bruno topped it up this morning but it was low again by lunch.",
      "Tiago Ferreira: Sounds like the pressure relief valve is leaking. Those boilers do that after a few years.",
      "Pedro Nunes: Can you fix it this week? There are guests in the flat.",
      "Tiago Ferreira: I can come on Thursday at ten. A new valve plus labour will cost about 180 euros.",
      "Pedro Nunes: 180 euros is fine, the owner already agreed to anything under 250.",
      "Tiago Ferreira: Good, I'll bring the part. Send me the door code.",
      "Pedro Nunes: I'll text it to you now. Thanks, Tiago.",
    ],
  },
  {
    key: "call-04",
    kind: "call",
    callId: 4811052,
    direction: "inbound",
    startedAt: "2026-06-29T10:20:00Z",
    durationSeconds: 295,
    agentName: "Inês Costa",
    contactName: "Daniel Okafor",
    externalNumber: "+447700913842",
    transcript: [
      "Inês Costa: Edge Stays, Inês speaking, how can I help?",
      "Daniel Okafor: Hi, this is Daniel Okafor. I had to cancel my booking at the Cascais Beach Apartment from the 4th of July.",
      "Inês Costa: I'm sorry to hear that. I can see the cancellation here.",
      "Daniel Okafor: I'd like a refund. I paid 680 euros up front and I think I should get at least half back, so 340 euros.",
      "Inês Costa: The booking was made on Booking.com, so normally the refund follows their cancellation policy.",
      "Daniel Okafor: I cancelled because of a family emergency. I can send a doctor's note.",
      "Inês Costa: Please do. I'll ask the owner whether we can refund the 340 euros as a goodwill gesture.",
      "Daniel Okafor: Thank you. How long will that take?",
      "Inês Costa: I'll get back to you within two working days.",
    ],
  },
  {
    key: "call-05",
    kind: "call",
    callId: 4811590,
    direction: "inbound",
    startedAt: "2026-07-20T09:02:00Z",
    durationSeconds: 201,
    agentName: "Rui Almeida",
    contactName: "Emma Thompson",
    externalNumber: "+447911532604",
    transcript: [
      "Rui Almeida: Good morning, Edge Stays, Rui speaking.",
      "Emma Thompson: Hi, it's Emma Thompson. We stayed at the Cascais Beach Apartment until Saturday.",
      "Emma Thompson: There's still a 300 euro security deposit hold on my credit card. When do I get the deposit back?",
      "Rui Almeida: Let me check. The cleaner's report only mentions some sand, nothing was damaged.",
      "Rui Almeida: The deposit hold is released automatically seven days after check-out, so by the 25th of July.",
      "Emma Thompson: And if it isn't released by then?",
      "Rui Almeida: Then call us or message us on Airbnb and we'll release it by hand.",
      "Emma Thompson: Great, thanks for your help.",
    ],
  },
  {
    key: "call-06",
    kind: "call",
    callId: 4811208,
    direction: "inbound",
    startedAt: "2026-06-10T16:48:00Z",
    durationSeconds: 356,
    agentName: "Inês Costa",
    contactName: "Maria Oliveira",
    externalNumber: "+351936207115",
    transcript: [
      "Inês Costa: Edge Stays, Inês speaking.",
      "Maria Oliveira: Olá, this is Maria Oliveira, we just checked in to the Lisbon Baixa Studio.",
      "Maria Oliveira: Honestly, the studio is dirty. There's hair in the shower, crumbs on the sofa and dirty dishes in the sink.",
      "Inês Costa: I'm really sorry, that should not happen.",
      "Maria Oliveira: We paid a 45 euro cleaning fee, so I want a refund of the cleaning fee.",
      "Inês Costa: That's fair. I can also send a cleaner within the hour to clean it again.",
      "Maria Oliveira: Yes please, but we still want the cleaning fee refunded.",
      "Inês Costa: Okay, I'll refund the 45 euro cleaning fee through Booking.com today.",
      "Maria Oliveira: Thank you.",
    ],
  },
  {
    key: "call-07",
    kind: "call",
    callId: 4810904,
    direction: "inbound",
    startedAt: "2026-06-01T08:31:00Z",
    durationSeconds: 173,
    agentName: "Rui Almeida",
    contactName: "Giulia Rossi",
    externalNumber: "+393471296580",
    transcript: [
      "Rui Almeida: Edge Stays, good morning.",
      "Giulia Rossi: Buongiorno, Giulia Rossi here. I'm in the Lisbon Baixa Studio until tomorrow.",
      "Giulia Rossi: Our flight is only in the evening. Could we have a late check-out tomorrow, maybe at 3pm?",
      "Rui Almeida: Let me look. Nobody arrives at the Baixa studio tomorrow, so a late check-out at 3pm is fine.",
      "Giulia Rossi: Is there a charge?",
      "Rui Almeida: No charge. Just leave the keys in the lockbox when you go.",
      "Giulia Rossi: Perfect, grazie mille.",
    ],
  },
  {
    key: "call-08",
    kind: "call",
    callId: 4811236,
    direction: "outbound",
    startedAt: "2026-06-11T14:10:00Z",
    durationSeconds: 188,
    agentName: "Pedro Nunes",
    contactName: "Maria Santos",
    externalNumber: "+351917553820",
    transcript: [
      "Pedro Nunes: Hello, is this Maria Santos? This is Pedro from Edge Stays.",
      "Maria Santos: Yes, hi Pedro.",
      "Pedro Nunes: I'm calling about your stay at Sintra Garden House from tomorrow.",
      "Pedro Nunes: I'm afraid the pool will be closed for maintenance for the first days of your stay.",
      "Maria Santos: Oh no, the kids were looking forward to the pool.",
      "Pedro Nunes: I understand. To make up for it we'll take 10% off your stay.",
      "Maria Santos: Okay, that's kind. Will it be fixed before we leave?",
      "Pedro Nunes: We expect so. I'll message you as soon as it's open again.",
    ],
  },
  {
    key: "call-09",
    kind: "call",
    callId: 4812117,
    direction: "inbound",
    startedAt: "2026-07-21T22:41:00Z",
    durationSeconds: 402,
    agentName: "Beatriz Lopes",
    contactName: "Ahmed Khan",
    externalNumber: "+971501284937",
    transcript: [
      "Beatriz Lopes: Edge Stays emergency line, Beatriz speaking.",
      "Ahmed Khan: Hi, I'm locked out of the Lisbon Baixa Studio. I think I lost the keys somewhere in Bairro Alto.",
      "Beatriz Lopes: Okay, don't worry. Are you in front of the building now?",
      "Ahmed Khan: Yes, I'm outside the door, and it's almost midnight.",
      "Beatriz Lopes: There's no spare key in the lockbox tonight, so I'll send a locksmith.",
      "Ahmed Khan: How long will that take?",
      "Beatriz Lopes: About forty minutes. The night call-out fee is 90 euros, which we'll add to the booking.",
      "Ahmed Khan: Fine, I just want to get in.",
      "Beatriz Lopes: The locksmith is called Nuno, he'll phone you when he's close.",
      "Ahmed Khan: Thank you.",
    ],
  },
  {
    key: "call-10",
    kind: "call",
    callId: 4812403,
    direction: "inbound",
    startedAt: "2026-08-01T15:27:00Z",
    durationSeconds: 219,
    agentName: "Inês Costa",
    contactName: "Chloe Martin",
    externalNumber: "+33745218836",
    transcript: [
      "Inês Costa: Edge Stays, Inês speaking.",
      "Chloe Martin: Hi, this is Chloe Martin. We're at the Lisbon Alfama Loft but the lockbox won't open.",
      "Chloe Martin: I typed the code from the check-in message three times and it doesn't work.",
      "Inês Costa: Sorry about that. Can you set the dials again and push the lever down before pulling?",
      "Chloe Martin: Still nothing, the code just doesn't work.",
      "Inês Costa: Okay. Our colleague Bruno is ten minutes away, he'll bring a spare key to the loft.",
      "Chloe Martin: Thanks, we'll wait in the café on the corner.",
      "Inês Costa: I'll also change the lockbox code today so this doesn't happen again.",
    ],
  },
  {
    key: "call-11",
    kind: "call",
    callId: 4811702,
    direction: "inbound",
    startedAt: "2026-06-27T22:55:00Z",
    durationSeconds: 187,
    agentName: "Beatriz Lopes",
    contactName: "Manuel Rocha",
    externalNumber: "+351225093317",
    transcript: [
      "Beatriz Lopes: Edge Stays emergency line, Beatriz speaking.",
      "Manuel Rocha: Good evening, my name is Manuel Rocha, I'm the neighbour living below the Porto Riverside Flat.",
      "Manuel Rocha: There's a party up there with loud music on the balcony, and it's nearly midnight.",
      "Beatriz Lopes: I'm very sorry, Mr Rocha. I'll call the guests right now.",
      "Manuel Rocha: This is the second time this month. The building has rules about noise after eleven.",
      "Beatriz Lopes: I understand. I'll ask them to stop the music and I'll pass your noise complaint to the manager.",
      "Manuel Rocha: Thank you, I hope it stops soon.",
    ],
  },
  {
    key: "call-12",
    kind: "call",
    callId: 4811655,
    direction: "inbound",
    startedAt: "2026-06-26T11:12:00Z",
    durationSeconds: 233,
    agentName: "Rui Almeida",
    contactName: "Hannah Schmidt",
    externalNumber: "+4915112873409",
    transcript: [
      "Rui Almeida: Edge Stays, Rui speaking.",
      "Hannah Schmidt: Hallo, this is Hannah Schmidt, we're staying at the Porto Riverside Flat until the 30th.",
      "Hannah Schmidt: We love Porto and would like to extend our stay by two extra nights.",
      "Rui Almeida: Nice to hear you're enjoying it. Let me check the calendar.",
      "Rui Almeida: It looks like someone else checks in on the 30th, but I'll double-check and send you a message today.",
      "Hannah Schmidt: Okay. And if it's not possible, do you have another flat?",
      "Rui Almeida: We have places in Lisbon, I'll include some options in the message.",
      "Hannah Schmidt: Danke, Rui.",
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// Guesty reservations
// ---------------------------------------------------------------------------------------------

const reservations: readonly CorpusReservation[] = [
  {
    key: "res-01",
    kind: "reservation",
    reservationId: "1e90f075528e011adcdf9d04",
    confirmationCode: "HMB7KQ2X9T",
    guestName: "Maria Santos",
    listingName: "Sintra Garden House",
    checkIn: "2026-06-12",
    checkOut: "2026-06-16",
    guestsCount: 4,
    channel: "airbnb2",
    status: "confirmed",
  },
  {
    key: "res-02",
    kind: "reservation",
    reservationId: "499245593706b0d054ba128f",
    confirmationCode: "5183920476",
    guestName: "Maria Oliveira",
    listingName: "Lisbon Baixa Studio",
    checkIn: "2026-06-10",
    checkOut: "2026-06-14",
    guestsCount: 2,
    channel: "bookingCom",
    status: "confirmed",
  },
  {
    key: "res-03",
    kind: "reservation",
    reservationId: "6d54990d94367c0e629a7e79",
    confirmationCode: "HMZP4R8C2D",
    guestName: "Maria Santos",
    listingName: "Cascais Beach Apartment",
    checkIn: "2026-08-03",
    checkOut: "2026-08-10",
    guestsCount: 4,
    channel: "airbnb2",
    status: "inquiry",
  },
  {
    key: "res-04",
    kind: "reservation",
    reservationId: "a3021aaabcc81414d0f8eadc",
    confirmationCode: "HMT3WD6N1L",
    guestName: "João Pereira",
    listingName: "Porto Riverside Flat",
    checkIn: "2026-05-18",
    checkOut: "2026-05-24",
    guestsCount: 3,
    channel: "airbnb2",
    status: "confirmed",
  },
  {
    key: "res-05",
    kind: "reservation",
    reservationId: "fc715add5ab466fe4c669aa2",
    confirmationCode: "HA-K7Q2P9",
    guestName: "Sophie Laurent",
    listingName: "Lisbon Alfama Loft",
    checkIn: "2026-05-20",
    checkOut: "2026-05-27",
    guestsCount: 2,
    channel: "vrbo",
    status: "confirmed",
  },
  {
    key: "res-06",
    kind: "reservation",
    reservationId: "db67a5a38bc1fe46b98cdd49",
    confirmationCode: "6402918835",
    guestName: "Daniel Okafor",
    listingName: "Cascais Beach Apartment",
    checkIn: "2026-07-04",
    checkOut: "2026-07-11",
    guestsCount: 5,
    channel: "bookingCom",
    status: "canceled",
  },
  {
    key: "res-07",
    kind: "reservation",
    reservationId: "14bb99c32ba4190f18788a37",
    confirmationCode: "HMC9XJ5V7E",
    guestName: "Emma Thompson",
    listingName: "Cascais Beach Apartment",
    checkIn: "2026-07-11",
    checkOut: "2026-07-18",
    guestsCount: 4,
    channel: "airbnb2",
    status: "confirmed",
  },
  {
    key: "res-08",
    kind: "reservation",
    reservationId: "e9ffdfb763ce16cdd66e4aad",
    confirmationCode: "HA-M3T8W1",
    guestName: "Lukas Becker",
    listingName: "Sintra Garden House",
    checkIn: "2026-06-05",
    checkOut: "2026-06-12",
    guestsCount: 6,
    channel: "vrbo",
    status: "confirmed",
  },
  {
    key: "res-09",
    kind: "reservation",
    reservationId: "678de9904623f5cfc53be120",
    confirmationCode: "GY-20417",
    guestName: "Ahmed Khan",
    listingName: "Lisbon Baixa Studio",
    checkIn: "2026-07-20",
    checkOut: "2026-07-23",
    guestsCount: 1,
    channel: "manual",
    status: "confirmed",
  },
  {
    key: "res-10",
    kind: "reservation",
    reservationId: "c66906efd8c979f81c5752ae",
    confirmationCode: "HMF2LS8Q4B",
    guestName: "Chloe Martin",
    listingName: "Lisbon Alfama Loft",
    checkIn: "2026-08-01",
    checkOut: "2026-08-05",
    guestsCount: 2,
    channel: "airbnb2",
    status: "confirmed",
  },
  {
    key: "res-11",
    kind: "reservation",
    reservationId: "e5d0d94d94caa71470d1c5de",
    confirmationCode: "7719204563",
    guestName: "Hannah Schmidt",
    listingName: "Porto Riverside Flat",
    checkIn: "2026-06-25",
    checkOut: "2026-06-30",
    guestsCount: 2,
    channel: "bookingCom",
    status: "confirmed",
  },
  {
    key: "res-12",
    kind: "reservation",
    reservationId: "0ddd444f779a6ec5de9720b2",
    confirmationCode: "GY-20388",
    guestName: "Tomás Ribeiro",
    listingName: "Porto Riverside Flat",
    checkIn: "2026-06-30",
    checkOut: "2026-07-04",
    guestsCount: 3,
    channel: "manual",
    status: "confirmed",
  },
  {
    key: "res-13",
    kind: "reservation",
    reservationId: "9e08c6cfc1de913f96502898",
    confirmationCode: "HMR6DN3K8W",
    guestName: "Priya Nair",
    listingName: "Sintra Garden House",
    checkIn: "2026-08-14",
    checkOut: "2026-08-21",
    guestsCount: 5,
    channel: "airbnb2",
    status: "inquiry",
  },
  {
    key: "res-14",
    kind: "reservation",
    reservationId: "c6ad74c065ccc96b4e9dea16",
    confirmationCode: "GY-20352",
    guestName: "Oliver Brown",
    listingName: "Lisbon Alfama Loft",
    checkIn: "2026-07-09",
    checkOut: "2026-07-12",
    guestsCount: 2,
    channel: "manual",
    status: "canceled",
  },
  {
    key: "res-15",
    kind: "reservation",
    reservationId: "361e8bb1b4b234d16fced10f",
    confirmationCode: "HA-P5V2X7",
    guestName: "Maria Fernandes",
    listingName: "Porto Riverside Flat",
    checkIn: "2026-08-07",
    checkOut: "2026-08-12",
    guestsCount: 3,
    channel: "vrbo",
    status: "confirmed",
  },
  {
    key: "res-16",
    kind: "reservation",
    reservationId: "378e860681094181101cbf2d",
    confirmationCode: "HMW8GT1Z6C",
    guestName: "Giulia Rossi",
    listingName: "Lisbon Baixa Studio",
    checkIn: "2026-05-29",
    checkOut: "2026-06-02",
    guestsCount: 2,
    channel: "airbnb2",
    status: "confirmed",
  },
];

// ---------------------------------------------------------------------------------------------
// Guesty guest messages (a message's document holds only the guest's name and the body, so
// bodies name the listing where a question needs it)
// ---------------------------------------------------------------------------------------------

const guestMessages: readonly CorpusGuestMessage[] = [
  {
    key: "gmsg-01",
    kind: "guest-message",
    messageId: "a9b4d813b3e395fc69f07385",
    conversationId: "34d57c1e3cc13cb6b54027cf",
    reservationId: "1e90f075528e011adcdf9d04",
    guestName: "Maria Santos",
    direction: "received",
    sentAt: "2026-06-09T18:22:00Z",
    body: "Hello! We're really looking forward to Sintra Garden House. We'll be arriving around 11am by car with two kids and a lot of luggage. Is an early check-in possible? If not, could we at least leave our bags?",
  },
  {
    key: "gmsg-02",
    kind: "guest-message",
    messageId: "c46b1759c23af0bc3a7b3043",
    conversationId: "34d57c1e3cc13cb6b54027cf",
    reservationId: "1e90f075528e011adcdf9d04",
    guestName: "Maria Santos",
    direction: "sent",
    sentAt: "2026-06-10T09:05:00Z",
    body: "Hi Maria, you can leave your bags in the garden shed as soon as you get to Sintra Garden House. Free parking for two cars is inside the garden gate; the gate code is 1906 and the remote hangs by the kitchen door.",
  },
  {
    key: "gmsg-03",
    kind: "guest-message",
    messageId: "6ad8c85f1a07be1426e88b5d",
    conversationId: "52ec8751770d3c88d0f82ae4",
    reservationId: "499245593706b0d054ba128f",
    guestName: "Maria Oliveira",
    direction: "received",
    sentAt: "2026-06-10T17:30:00Z",
    body: "Hi, we're in the Lisbon Baixa Studio now. There are no bath towels at all, only two small hand towels in the bathroom cupboard. Could someone bring bath towels tonight?",
  },
  {
    key: "gmsg-04",
    kind: "guest-message",
    messageId: "f1a2ea3d668d541d41796d89",
    conversationId: "2557e1b06ce5df181f12cb6c",
    reservationId: "e9ffdfb763ce16cdd66e4aad",
    guestName: "Lukas Becker",
    direction: "received",
    sentAt: "2026-06-10T07:50:00Z",
    body: "Good morning, could we have a late check-out at Sintra Garden House on Friday the 12th? Our flight back to Munich is at 6pm, so leaving at 1pm would help a lot. We are six people with lots of bags.",
  },
  {
    key: "gmsg-05",
    kind: "guest-message",
    messageId: "56960fe2919f277f7e7355d1",
    conversationId: "553cf2be459443395f1664ea",
    reservationId: "fc715add5ab466fe4c669aa2",
    guestName: "Sophie Laurent",
    direction: "sent",
    sentAt: "2026-05-25T12:14:00Z",
    body: "Hi Sophie, good news: a late check-out until 1pm on Wednesday 27 May at the Lisbon Alfama Loft is fine, with no extra charge. Please leave the keys on the kitchen table.",
  },
  {
    key: "gmsg-06",
    kind: "guest-message",
    messageId: "67ee32e81a3088bb4769e44c",
    conversationId: "6e7a6f8a8a8f8a0c3c99e187",
    reservationId: "c6ad74c065ccc96b4e9dea16",
    guestName: "Oliver Brown",
    direction: "received",
    sentAt: "2026-06-20T20:02:00Z",
    body: "Hello, as discussed I've cancelled my July booking at the Lisbon Alfama Loft. I paid a 50% deposit of 210 euros by bank transfer in May. Could you please refund the deposit to the same IBAN?",
  },
  {
    key: "gmsg-07",
    kind: "guest-message",
    messageId: "cc893626e8037e63bbdb4852",
    conversationId: "a5393003b7e8e8c0a04649d7",
    reservationId: "c66906efd8c979f81c5752ae",
    guestName: "Chloe Martin",
    direction: "received",
    sentAt: "2026-08-01T17:05:00Z",
    body: "Thanks, Bruno brought the spare key and we're in! One more thing: the wifi password in the welcome guide for the Alfama Loft doesn't work.",
  },
  {
    key: "gmsg-08",
    kind: "guest-message",
    messageId: "ca63361405bfff4b36bd7b0b",
    conversationId: "01284d8e25eaad003afa4f68",
    reservationId: "678de9904623f5cfc53be120",
    guestName: "Ahmed Khan",
    direction: "sent",
    sentAt: "2026-07-20T13:40:00Z",
    body: "Welcome to Lisbon, Ahmed! The wifi network at the Baixa studio is called BaixaStudio_5G and the password is on the sticker under the router. Check-out is at 11am on the 23rd.",
  },
  {
    key: "gmsg-09",
    kind: "guest-message",
    messageId: "de29d80dd85dc417ad8b73a7",
    conversationId: "fb549acf9d4583b25677120a",
    reservationId: "a3021aaabcc81414d0f8eadc",
    guestName: "João Pereira",
    direction: "received",
    sentAt: "2026-05-20T06:58:00Z",
    body: "Good morning, still no hot water at the Porto Riverside Flat. The boiler display now shows error code E119 and the pressure is below 0.5 bar again.",
  },
  {
    key: "gmsg-10",
    kind: "guest-message",
    messageId: "a58c407813638e7d285de2ee",
    conversationId: "7cacbc85ed796a7d9fddf9cb",
    reservationId: "e5d0d94d94caa71470d1c5de",
    guestName: "Hannah Schmidt",
    direction: "sent",
    sentAt: "2026-06-26T15:30:00Z",
    body: "Hi Hannah, sorry, the Porto Riverside Flat is booked from 30 June, so we can't extend your stay there. We can offer you the Lisbon Baixa Studio instead at 95 euros a night.",
  },
  {
    key: "gmsg-11",
    kind: "guest-message",
    messageId: "ea42094d899f5c4b663c08de",
    conversationId: "707ac0d478f92783d3c4e582",
    reservationId: "9e08c6cfc1de913f96502898",
    guestName: "Priya Nair",
    direction: "received",
    sentAt: "2026-07-28T10:25:00Z",
    body: "Hi! Before we confirm Sintra Garden House for August: is the pool heated, and are dogs allowed? We would travel with a small, very calm dog.",
  },
  {
    key: "gmsg-12",
    kind: "guest-message",
    messageId: "207446aa1d850199a07f82e6",
    conversationId: "d37efd02b2eacc4251720cea",
    reservationId: "361e8bb1b4b234d16fced10f",
    guestName: "Maria Fernandes",
    direction: "received",
    sentAt: "2026-08-04T19:44:00Z",
    body: "Olá! For our stay at the Porto Riverside Flat, could you put a baby cot and a high chair in the bedroom? Our daughter is 10 months old.",
  },
  {
    key: "gmsg-13",
    kind: "guest-message",
    messageId: "696de9a637c63d917fd2b5ec",
    conversationId: "030fa0f798c14c2ac35cf0bd",
    reservationId: "378e860681094181101cbf2d",
    guestName: "Giulia Rossi",
    direction: "sent",
    sentAt: "2026-05-28T16:10:00Z",
    body: "Hi Giulia, your check-in at the Lisbon Baixa Studio: the building door code is 2580, the studio is on the third floor (no lift) and the keys are in the lockbox next to the door. There is no parking at the building.",
  },
  {
    key: "gmsg-14",
    kind: "guest-message",
    messageId: "1d047b8d721f476389431383",
    conversationId: "b98ae38f896190107603e743",
    reservationId: "0ddd444f779a6ec5de9720b2",
    guestName: "Tomás Ribeiro",
    direction: "received",
    sentAt: "2026-06-28T16:03:00Z",
    body: "Boa tarde, we arrive in Porto on 30 June by train at São Bento station around 9pm. Is self check-in at the Porto Riverside Flat possible that late?",
  },
];

// ---------------------------------------------------------------------------------------------
// Rocket.Chat messages: #cleaning, #maintenance, #ops (four threads)
// ---------------------------------------------------------------------------------------------

const OPS_ROOM = "XguJKEahvPuwKCRCu";
const CLEANING_ROOM = "gUhQF6KoLMzMgUPOZ";
const MAINTENANCE_ROOM = "kklOeAMaTFb4e8MBb";

const chatMessages: readonly CorpusChatMessage[] = [
  {
    key: "chat-01",
    kind: "chat",
    messageId: "TH8uLGhoy6lKpZzrd",
    roomId: CLEANING_ROOM,
    roomName: "cleaning",
    userName: "ana.sousa",
    sentAt: "2026-06-10T11:20:00Z",
    text: "Baixa studio turnover done except the towels: the laundry didn't deliver the bath towels this morning, so I only left 2 hand towels. The laundry van is late again.",
  },
  {
    key: "chat-02",
    kind: "chat",
    messageId: "2jbNUnlkISv8P0HWF",
    roomId: CLEANING_ROOM,
    roomName: "cleaning",
    userName: "pedro.nunes",
    sentAt: "2026-06-10T12:05:00Z",
    threadId: "TH8uLGhoy6lKpZzrd",
    text: "I called Lavandaria Central, they'll drop 4 bath towels at the Baixa studio by 8pm today.",
  },
  {
    key: "chat-03",
    kind: "chat",
    messageId: "AK9mIu0QhqLBZFJxH",
    roomId: CLEANING_ROOM,
    roomName: "cleaning",
    userName: "ana.sousa",
    sentAt: "2026-05-27T14:30:00Z",
    text: "Alfama loft cleaned after the late check-out. One wine glass broken and a red wine stain on the sofa; I sprayed it but it needs the upholstery guy.",
  },
  {
    key: "chat-04",
    kind: "chat",
    messageId: "go0Q3OEEI3blOQDKm",
    roomId: CLEANING_ROOM,
    roomName: "cleaning",
    userName: "carla.mendes",
    sentAt: "2026-07-18T12:10:00Z",
    text: "Cascais Beach Apartment: sand everywhere in the living room and a coffee stain on a sofa cushion. I need one extra hour, will finish at 4pm.",
  },
  {
    key: "chat-05",
    kind: "chat",
    messageId: "QiVfaKMDs21YXUCLc",
    roomId: CLEANING_ROOM,
    roomName: "cleaning",
    userName: "carla.mendes",
    sentAt: "2026-05-18T10:45:00Z",
    text: "Porto Riverside Flat is ready for today's check-in. The heating is switched off for the summer, so I left extra blankets on the bed.",
  },
  {
    key: "chat-06",
    kind: "chat",
    messageId: "88AGf187jVtiuIfMA",
    roomId: CLEANING_ROOM,
    roomName: "cleaning",
    userName: "ana.sousa",
    sentAt: "2026-06-11T16:00:00Z",
    text: "Sintra Garden House on Friday 12 June: late check-out until 1pm and the next guests want to come early. The house has 4 bedrooms, I need a second cleaner to turn it over by 4pm.",
  },
  {
    key: "chat-07",
    kind: "chat",
    messageId: "LHHnp79Rut8E09LNW",
    roomId: MAINTENANCE_ROOM,
    roomName: "maintenance",
    userName: "bruno.carvalho",
    sentAt: "2026-05-19T10:30:00Z",
    text: "Porto Riverside Flat boiler: pressure was at 0.3 bar, I topped it up to 1.5 but it keeps dropping. Probably the relief valve is leaking, needs a plumber.",
  },
  {
    key: "chat-08",
    kind: "chat",
    messageId: "ASXBbNLv8CyF4cQkx",
    roomId: MAINTENANCE_ROOM,
    roomName: "maintenance",
    userName: "bruno.carvalho",
    sentAt: "2026-05-21T11:15:00Z",
    threadId: "LHHnp79Rut8E09LNW",
    text: "The plumber replaced the relief valve, pressure is stable at 1.5 bar and the hot water is back at Porto Riverside.",
  },
  {
    key: "chat-09",
    kind: "chat",
    messageId: "UsclQMTtURJCUHTNp",
    roomId: MAINTENANCE_ROOM,
    roomName: "maintenance",
    userName: "bruno.carvalho",
    sentAt: "2026-05-23T09:40:00Z",
    text: "Alfama loft heating fixed: the thermostat batteries were dead, so the radiators never got the signal. New batteries in, radiators are warm.",
  },
  {
    key: "chat-10",
    kind: "chat",
    messageId: "knz3gw0u6FEHsZoKN",
    roomId: MAINTENANCE_ROOM,
    roomName: "maintenance",
    userName: "bruno.carvalho",
    sentAt: "2026-07-13T08:50:00Z",
    text: "Cascais Beach Apartment boiler makes a banging noise when the hot water runs. Hot water still works, I'll bleed it on Monday.",
  },
  {
    key: "chat-11",
    kind: "chat",
    messageId: "T5TUlVNHO89fttAkC",
    roomId: MAINTENANCE_ROOM,
    roomName: "maintenance",
    userName: "bruno.carvalho",
    sentAt: "2026-06-11T09:15:00Z",
    text: "Sintra Garden House pool pump is broken and the water is turning green. Pool closed from tomorrow until the pump is repaired.",
  },
  {
    key: "chat-12",
    kind: "chat",
    messageId: "xEllONBnS5mSdqsLD",
    roomId: MAINTENANCE_ROOM,
    roomName: "maintenance",
    userName: "pedro.nunes",
    sentAt: "2026-06-12T15:20:00Z",
    threadId: "T5TUlVNHO89fttAkC",
    text: "The new pump arrives on 14 June, so the Sintra pool should reopen on the morning of 15 June.",
  },
  {
    key: "chat-13",
    kind: "chat",
    messageId: "LIffHR3DMFBkmMA0B",
    roomId: MAINTENANCE_ROOM,
    roomName: "maintenance",
    userName: "bruno.carvalho",
    sentAt: "2026-07-22T10:05:00Z",
    text: "Baixa studio: changed the front door lock cylinder after last night's lost keys. Three new keys: two are in the office safe and one is in the lockbox.",
  },
  {
    key: "chat-14",
    kind: "chat",
    messageId: "tBqqd0VzLKqwi2dEe",
    roomId: OPS_ROOM,
    roomName: "ops",
    userName: "ines.costa",
    sentAt: "2026-08-01T16:40:00Z",
    text: "Alfama Loft lockbox code changed to 7315 after today's problem. Please update the check-in message on Airbnb and VRBO.",
  },
  {
    key: "chat-15",
    kind: "chat",
    messageId: "8i8TmXwtrZkd0kxUn",
    roomId: OPS_ROOM,
    roomName: "ops",
    userName: "ines.costa",
    sentAt: "2026-06-29T10:45:00Z",
    text: "Heads up: the Cascais booking for 4–11 July is canceled and the guest wants a partial refund. It came through Booking.com, so don't refund anything by hand until the owner decides.",
  },
  {
    key: "chat-16",
    kind: "chat",
    messageId: "EO7CzutqZYjK9X0to",
    roomId: OPS_ROOM,
    roomName: "ops",
    userName: "rui.almeida",
    sentAt: "2026-07-16T08:30:00Z",
    text: "Late check-out at the Cascais Beach Apartment on Saturday 18 July until noon approved for Emma Thompson; the cleaner can start at 12.",
  },
  {
    key: "chat-17",
    kind: "chat",
    messageId: "216rEaMGuTWMpCISR",
    roomId: OPS_ROOM,
    roomName: "ops",
    userName: "ines.costa",
    sentAt: "2026-08-06T09:00:00Z",
    text: "The Alfama building administrator emailed again about noise from the loft after midnight. That's the third noise complaint this summer; we need quiet hours in the house rules.",
  },
  {
    key: "chat-18",
    kind: "chat",
    messageId: "BGGIV8DJOgPeNfgMd",
    roomId: OPS_ROOM,
    roomName: "ops",
    userName: "pedro.nunes",
    sentAt: "2026-08-06T10:20:00Z",
    threadId: "216rEaMGuTWMpCISR",
    text: "Done: quiet hours from 10pm to 8am are now in the Alfama Loft house rules on Airbnb and VRBO.",
  },
];

export const corpus: readonly CorpusRecord[] = [...calls, ...reservations, ...guestMessages, ...chatMessages];

// ---------------------------------------------------------------------------------------------
// Questions (the comment after each names its closest distractors)
// ---------------------------------------------------------------------------------------------

export const questions: readonly LabelledQuestion[] = [
  // Calls
  { question: "who called about the broken boiler at the Porto Riverside Flat?", answerKey: "call-01" }, // call-03, gmsg-09, chat-07
  { question: "who called about the cold radiators at the Alfama loft?", answerKey: "call-02" }, // chat-09, chat-05, call-01
  { question: "how much will the plumber charge to fix the boiler at the Porto flat?", answerKey: "call-03" }, // chat-07, chat-08, call-01
  { question: "how much refund did Daniel Okafor ask for on the phone?", answerKey: "call-04" }, // chat-15, res-06, call-06
  { question: "when will Emma Thompson get her security deposit back for Cascais?", answerKey: "call-05" }, // gmsg-06, res-07, chat-16
  { question: "why did Maria Oliveira call asking for a refund of the cleaning fee?", answerKey: "call-06" }, // gmsg-03, res-02, call-04
  { question: "who phoned asking for a late check-out at the Baixa studio?", answerKey: "call-07" }, // gmsg-04, gmsg-05, chat-16
  { question: "who did we call about the pool being closed for maintenance at Sintra?", answerKey: "call-08" }, // chat-11, chat-12, gmsg-11
  { question: "who got locked out of the Baixa studio at night after losing the keys?", answerKey: "call-09" }, // chat-13, call-10, gmsg-13
  { question: "who called because the lockbox code didn't work at the Alfama loft?", answerKey: "call-10" }, // chat-14, gmsg-07, call-09
  { question: "which neighbour called to complain about the party noise at the Porto Riverside Flat?", answerKey: "call-11" }, // chat-17, chat-18
  { question: "how many extra nights did Hannah Schmidt ask for when she called about extending her stay?", answerKey: "call-12" }, // gmsg-10, res-11

  // Reservations
  { question: "what are the check-in and check-out dates for Maria Santos at Sintra Garden House?", answerKey: "res-01" }, // res-03, gmsg-01, res-08
  { question: "is Maria Santos's August booking at the Cascais Beach Apartment confirmed or just an inquiry?", answerKey: "res-03" }, // res-01, res-13, res-07
  { question: "what's the confirmation code of Daniel Okafor's canceled Cascais booking?", answerKey: "res-06" }, // call-04, chat-15, res-14
  { question: "how many guests are on Emma Thompson's Cascais Beach Apartment reservation?", answerKey: "res-07" }, // call-05, res-06, chat-16
  { question: "when does Ahmed Khan check in at the Lisbon Baixa Studio?", answerKey: "res-09" }, // gmsg-08, call-09, res-02
  { question: "what dates is Chloe Martin booked at the Lisbon Alfama Loft?", answerKey: "res-10" }, // call-10, gmsg-07, res-05
  { question: "what's the confirmation code of Tomás Ribeiro's reservation at the Porto Riverside Flat?", answerKey: "res-12" }, // gmsg-14, res-11, res-15
  { question: "how many guests is Priya Nair's inquiry for Sintra Garden House?", answerKey: "res-13" }, // gmsg-11, res-03, res-08
  { question: "when does Maria Fernandes check out of the Porto Riverside Flat?", answerKey: "res-15" }, // gmsg-12, res-01, res-02

  // Guest messages
  { question: "what time is Maria Santos arriving at Sintra Garden House?", answerKey: "gmsg-01" }, // gmsg-02, res-01, call-08
  { question: "where can Maria Santos park at Sintra Garden House?", answerKey: "gmsg-02" }, // gmsg-01, gmsg-13, res-01
  { question: "which guest complained that there were no bath towels at the Baixa studio?", answerKey: "gmsg-03" }, // chat-01, chat-02, call-06
  { question: "what time is Lukas Becker's flight on the day of his late check-out?", answerKey: "gmsg-04" }, // call-07, chat-06, gmsg-05
  { question: "until what time can Sophie Laurent stay on her late check-out at the Alfama loft?", answerKey: "gmsg-05" }, // chat-03, gmsg-04, call-02
  { question: "how did Oliver Brown pay the deposit for his Alfama booking?", answerKey: "gmsg-06" }, // call-05, res-14, call-04
  { question: "what is the wifi network called at the Baixa studio?", answerKey: "gmsg-08" }, // gmsg-07, gmsg-13
  { question: "what error code is the boiler showing at the Porto Riverside Flat?", answerKey: "gmsg-09" }, // call-01, chat-07, chat-10
  { question: "which Maria asked for a baby cot at the Porto Riverside Flat?", answerKey: "gmsg-12" }, // gmsg-01, res-15, call-01
  { question: "which train station is Tomás arriving at for the Porto Riverside Flat?", answerKey: "gmsg-14" }, // res-12, gmsg-04, call-12

  // Chat
  { question: "what did the cleaner say about the missing towels in Baixa?", answerKey: "chat-01" }, // gmsg-03, chat-02
  { question: "by what time will the laundry drop the bath towels at the Baixa studio?", answerKey: "chat-02" }, // chat-01, gmsg-03
  { question: "how much extra time does Carla need to clean the Cascais apartment?", answerKey: "chat-04" }, // chat-06, chat-03, chat-16
  { question: "what did the plumber replace to get the hot water back at Porto Riverside?", answerKey: "chat-08" }, // call-03, chat-07, gmsg-09
  { question: "what was wrong with the heating at the Alfama loft?", answerKey: "chat-09" }, // call-02, chat-05
  { question: "when will the pool at Sintra Garden House reopen?", answerKey: "chat-12" }, // chat-11, call-08, gmsg-11
  { question: "where are the new keys for the Baixa studio front door?", answerKey: "chat-13" }, // call-09, gmsg-13
  { question: "what is the new lockbox code at the Alfama loft?", answerKey: "chat-14" }, // call-10, gmsg-13
  { question: "what are the quiet hours in the Alfama loft house rules?", answerKey: "chat-18" }, // chat-17, call-11
];

/**
 * Questions no record answers: search should return nothing (or nothing that passes the relevance
 * floor) and the bot say it found nothing. Most are on-topic near-misses (a flat we do not have,
 * a repair nobody made, words of the trade such as wifi, door code or sofa, next to the real
 * listings' names); two are nonsense.
 */
export const unanswerableQuestions: readonly string[] = [
  "what is the wifi password at the Cascais villa?",
  "purple giraffes juggling quantum marmalade",
  "qwxz blorft znarg vleep",
  "what is the door code of our Madrid apartment?",
  "who repaired the elevator at the Cascais Beach Apartment?",
  "how much did the new dishwasher for the Porto flat cost?",
  "when is the chimney sweep coming to Sintra Garden House?",
  "which guest wrote a review about the rooftop jacuzzi?",
  "what is our accountant's phone number?",
  "did the Faro beach house pass its fire inspection?",
  "who ordered the new mattresses for the Alfama loft?",
  "what time does the surf school in Ericeira open?",
];
