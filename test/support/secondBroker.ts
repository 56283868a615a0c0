/** The private RabbitMQ node is shared with the benchmark (its idle workload needs 1,000 sockets). */
export { startSecondBroker, type SecondBroker, type SecondBrokerOptions } from '../../tools/privateBroker';
