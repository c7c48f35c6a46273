#!/bin/sh
# Render server.properties from KAFKA_* variables, format the storage once, run the broker.
#   KAFKA_NODE_ID (1), KAFKA_VOTERS (1@localhost:9093), KAFKA_CLUSTER_ID (required to format),
#   KAFKA_ADVERTISED (localhost:9092), KAFKA_REPLICAS (1: replicas of Kafka's own topics),
#   KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
#   KAFKA_EXTERNAL (unset): host:port of a second listener for clients outside the container
#   network (e.g. 127.0.0.1:29092 published by Docker); it listens on that port.
set -eu
DATA=/var/lib/kafka
NODE_ID=${KAFKA_NODE_ID:-1}
REPLICAS=${KAFKA_REPLICAS:-1}
MIN_ISR=$(( REPLICAS > 1 ? 2 : 1 ))
LISTENERS="PLAINTEXT://0.0.0.0:${KAFKA_PORT:-9092},CONTROLLER://0.0.0.0:${KAFKA_CONTROLLER_PORT:-9093}"
ADVERTISED="PLAINTEXT://${KAFKA_ADVERTISED:-localhost:9092}"
PROTOCOLS="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
if [ -n "${KAFKA_EXTERNAL:-}" ]; then
  LISTENERS="$LISTENERS,EXTERNAL://0.0.0.0:${KAFKA_EXTERNAL##*:}"
  ADVERTISED="$ADVERTISED,EXTERNAL://$KAFKA_EXTERNAL"
  PROTOCOLS="$PROTOCOLS,EXTERNAL:PLAINTEXT"
fi
cat > "$DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=${KAFKA_VOTERS:-1@localhost:9093}
controller.listener.names=CONTROLLER
listeners=$LISTENERS
advertised.listeners=$ADVERTISED
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$PROTOCOLS
log.dirs=$DATA/kraft-logs
offsets.topic.replication.factor=$REPLICAS
transaction.state.log.replication.factor=$REPLICAS
transaction.state.log.min.isr=$MIN_ISR
share.coordinator.state.topic.replication.factor=$REPLICAS
share.coordinator.state.topic.min.isr=$MIN_ISR
offsets.topic.num.partitions=8
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
message.max.bytes=2097152
replica.fetch.max.bytes=2097152
PROPS
CP="/opt/kafka/lib/*"
LOG="-Dlog4j2.configurationFile=/opt/kafka/log4j2.properties -Dkafka.logs.dir=$DATA"
if [ ! -f "$DATA/kraft-logs/meta.properties" ]; then
  java $LOG -cp "$CP" kafka.tools.StorageTool format -t "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID}" \
    -c "$DATA/server.properties"
fi
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} -XX:+UseG1GC -Djava.awt.headless=true $LOG \
  -cp "$CP" kafka.Kafka "$DATA/server.properties"
