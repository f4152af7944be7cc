#!/bin/bash
# compose's one-shot Kafka init (the kafka-init service, the Kafka image's
# own tools): the services' SCRAM users, their topics and their ACLs. It
# signs in as the broker's super user "admin" (SASL/PLAIN, KAFKA_ADMIN_PASSWORD);
# the services' principals may neither create topics nor touch another's.
# Idempotent: it runs on every `docker compose up` (a password in the env
# file changes the user's; an ACL or topic removed from the lists below is
# not removed from Kafka: do that with kafka-acls/kafka-topics by hand).
set -euo pipefail

bin=/opt/kafka/bin
here=$(dirname "$0")
bootstrap=kafka:9092
prefix=${TOPIC_PREFIX:?}
partitions=${TOPIC_PARTITIONS:?}

admin=$(mktemp)
trap 'rm -f "$admin"' EXIT
cat > "$admin" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${ADMIN_PASSWORD:?}";
PROPERTIES

# the services' principals (the env file's KAFKA_<SERVICE>_PASSWORD)
declare -A passwords=(
  [shixiang-registry]=${REGISTRY_PASSWORD:?}
  [shixiang-coding]=${CODING_PASSWORD:?}
  [shixiang-lifecycle]=${LIFECYCLE_PASSWORD:?}
  [shixiang-sync]=${SYNC_PASSWORD:?}
)
for user in "${!passwords[@]}"; do
  "$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --command-config "$admin" --alter \
    --entity-type users --entity-name "$user" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=${passwords[$user]}]"
done

# topics.txt: <name> <partitions>; replication factor 1 (one broker)
grep -v '^#' "$here/topics.txt" | while read -r name count; do
  name=${name//\{prefix\}/$prefix}
  count=${count//\{partitions\}/$partitions}
  "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --command-config "$admin" --create --if-not-exists \
    --topic "$name" --partitions "$count" --replication-factor 1
done

# acls.txt: <principal> <topic|group> <literal|prefixed> <name> <operation,...>
grep -v '^#' "$here/acls.txt" | while read -r principal type pattern name operations; do
  name=${name//\{prefix\}/$prefix}
  args=()
  for operation in ${operations//,/ }; do
    args+=(--operation "$operation")
  done
  "$bin/kafka-acls.sh" --bootstrap-server "$bootstrap" --command-config "$admin" --add \
    --allow-principal "User:$principal" "--$type" "$name" --resource-pattern-type "$pattern" "${args[@]}"
done
echo "kafka-init: users, topics and ACLs are in place"
