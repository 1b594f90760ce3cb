"""Log groups and CloudWatch alarms, with an optional email when one fires."""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from .settings import DeploySettings

# Lambda's default concurrency quota per region; the alarm's limit when none is reserved.
DEFAULT_CONCURRENCY_QUOTA = 1000
ALARM_PERIOD = Duration.minutes(5)


def log_group(scope: Construct, construct_id: str, settings: DeploySettings) -> logs.LogGroup:
    """A log group kept [observability] log_retention_days, removed by `make destroy`."""
    group = logs.LogGroup(scope, construct_id, removal_policy=RemovalPolicy.DESTROY)
    # The number itself: the schema allows only the periods CloudWatch Logs accepts.
    cfn_group = cast(logs.CfnLogGroup, group.node.default_child)
    cfn_group.retention_in_days = settings.observability.log_retention_days
    return group


class Alarms(Construct):
    """Errors above 1 %, any throttle, duration above 80 % of the timeout, and concurrency
    above 80 % of its limit. Each alarm notifies the topic, which emails `alarm_email`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: DeploySettings,
        function: lambda_.Function,
    ) -> None:
        super().__init__(scope, construct_id)
        timeout_ms = settings.function.timeout_seconds * 1000
        limit = settings.function.reserved_concurrency or DEFAULT_CONCURRENCY_QUOTA
        error_rate = cloudwatch.MathExpression(
            expression="IF(invocations > 0, 100 * errors / invocations, 0)",
            using_metrics={
                "errors": function.metric_errors(period=ALARM_PERIOD),
                "invocations": function.metric_invocations(period=ALARM_PERIOD),
            },
            label="Error rate (%)",
            period=ALARM_PERIOD,
        )
        self.alarms = [
            self._alarm("ErrorRate", error_rate, 1, "More than 1 % of invocations failed"),
            self._alarm(
                "Throttles",
                function.metric_throttles(period=ALARM_PERIOD),
                0,
                "Invocations were throttled",
            ),
            self._alarm(
                "Duration",
                function.metric_duration(period=ALARM_PERIOD, statistic="Maximum"),
                0.8 * timeout_ms,
                "An invocation ran past 80 % of the timeout",
            ),
            self._alarm(
                "Concurrency",
                function.metric("ConcurrentExecutions", period=ALARM_PERIOD, statistic="Maximum"),
                0.8 * limit,
                f"Concurrency passed 80 % of its limit ({limit})",
            ),
        ]
        self.topic = sns.Topic(self, "Topic", enforce_ssl=True)
        NagSuppressions.add_resource_suppressions(
            self.topic,
            [
                NagPackSuppression(
                    id="AwsSolutions-SNS2",
                    reason="CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed "
                    "SNS key, and alarm messages carry no secret data.",
                )
            ],
        )
        if settings.observability.alarm_email:
            self.topic.add_subscription(
                subscriptions.EmailSubscription(settings.observability.alarm_email)
            )
        for alarm in self.alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))

    def _alarm(
        self, name: str, metric: cloudwatch.IMetric, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
