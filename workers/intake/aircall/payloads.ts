// Aircall webhook bodies as documented (developer.aircall.io, "Webhooks") and as captured from
// real deliveries. Objects are loose: Aircall adds fields over time and we must not reject them.
import { z } from "zod";

export const aircallEnvelopeSchema = z.looseObject({
  resource: z.string().optional(),
  event: z.string().optional(),
  timestamp: z.number().optional(),
  token: z.string().optional(),
  data: z.unknown(),
});

const nullableString = z.string().nullish();
const nullableNumber = z.number().nullish();

const userRefSchema = z.looseObject({ id: z.number().int(), name: nullableString, email: nullableString });
const numberRefSchema = z.looseObject({ id: z.number().int(), name: nullableString, digits: nullableString });
const contactRefSchema = z.looseObject({
  id: z.number().int(),
  first_name: nullableString,
  last_name: nullableString,
  company_name: nullableString,
});

export const callSchema = z.looseObject({
  id: z.number().int(),
  direction: nullableString,
  status: nullableString,
  missed_call_reason: nullableString,
  started_at: nullableNumber,
  answered_at: nullableNumber,
  ended_at: nullableNumber,
  duration: nullableNumber,
  hangup_cause: nullableString,
  voicemail: nullableString,
  recording: nullableString,
  raw_digits: nullableString,
  archived: z.boolean().nullish(),
  user: userRefSchema.nullish(),
  number: numberRefSchema.nullish(),
  contact: contactRefSchema.nullish(),
  tags: z.array(z.looseObject({ id: z.number().int(), name: z.string() })).nullish(),
  comments: z
    .array(
      z.looseObject({
        id: z.number().int(),
        content: nullableString,
        posted_by: userRefSchema.nullish(),
        posted_at: nullableNumber,
      }),
    )
    .nullish(),
});
export type AircallCall = z.infer<typeof callSchema>;

export const contactSchema = z.looseObject({
  id: z.number().int(),
  first_name: nullableString,
  last_name: nullableString,
  company_name: nullableString,
  information: nullableString,
  emails: z.array(z.looseObject({ value: z.string() })).nullish(),
  phone_numbers: z.array(z.looseObject({ value: z.string() })).nullish(),
});

export const userSchema = z.looseObject({
  id: z.number().int(),
  name: nullableString,
  email: nullableString,
  available: z.boolean().nullish(),
  availability_status: nullableString,
  language: nullableString,
});

export const numberSchema = z.looseObject({
  id: z.number().int(),
  name: nullableString,
  digits: nullableString,
  country: nullableString,
  time_zone: nullableString,
  open: z.boolean().nullish(),
  availability_status: nullableString,
});

// AI events (developer.aircall.io, "Call Transcripts and Insights"): they arrive seconds to
// minutes after the call ended, reference it by call_id, and carry their content.
const utteranceSchema = z.looseObject({
  text: z.string(),
  participant_type: nullableString,
  start_time: nullableNumber,
});

export const transcriptionSchema = z.looseObject({
  call_id: z.number().int(),
  content: z.union([
    z.string(),
    z.looseObject({ language: nullableString, utterances: z.array(utteranceSchema).nullish(), text: nullableString }),
  ]),
});

export const summarySchema = z.looseObject({
  call_id: z.number().int(),
  content: z.union([z.string(), z.looseObject({ text: nullableString, content: nullableString })]),
});
