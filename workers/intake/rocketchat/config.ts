import { defineCapability } from "../../config/capability";
import { commaList, secretString } from "../../config/variables";
import { optionalRocketChatVariables, rocketChatApiFrom } from "../../chat/rocketchat-api";

/**
 * Rocket.Chat ingest: the outgoing integration's token (required) and, optionally, the REST
 * credentials that tell a room's visibility. ROCKETCHAT_USER_ID alone also names the bot user,
 * whose own posts are skipped.
 */
export const rocketChatIngestConfig = defineCapability({
  name: "rocket.chat ingest",
  variables: {
    ROCKETCHAT_INGEST_TOKEN: commaList(secretString(8)),
    ...optionalRocketChatVariables,
  },
  build: (values) => ({
    tokens: values.ROCKETCHAT_INGEST_TOKEN,
    botUserId: values.ROCKETCHAT_USER_ID ?? null,
    api: rocketChatApiFrom(values),
  }),
});
