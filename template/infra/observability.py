"""What watches the stack: log groups, CloudWatch alarms that email [observability]
alarm_email, and the cdk-nag findings accepted, each with its reason."""

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
from constructs import Construct, IConstruct

from .settings import DeploySettings

# Lambda's default concurrency quota per region; the alarm's limit when none is reserved.
DEFAULT_CONCURRENCY_QUOTA = 1000
PERIOD = Duration.minutes(5)


def accept(scope: IConstruct, reason: str, *rules: str) -> None:
    """Accept cdk-nag's AwsSolutions `rules` on scope and all it contains, saying why."""
    suppressions = [NagPackSuppression(id=f"AwsSolutions-{rule}", reason=reason) for rule in rules]
    NagSuppressions.add_resource_suppressions(scope, suppressions, apply_to_children=True)


def log_group(scope: Construct, construct_id: str, settings: DeploySettings) -> logs.LogGroup:
    """A log group kept [observability] log_retention_days, removed by `make destroy`."""
    group = logs.LogGroup(scope, construct_id, removal_policy=RemovalPolicy.DESTROY)
    # The number itself: the schema allows only the periods CloudWatch Logs accepts.
    cfn_group = cast(logs.CfnLogGroup, group.node.default_child)
    cfn_group.retention_in_days = settings.observability.log_retention_days
    return group


def add_alarms(scope: Construct, settings: DeploySettings, function: lambda_.Function) -> None:
    alarms = Construct(scope, "Alarms")
    limit = settings.function.reserved_concurrency or DEFAULT_CONCURRENCY_QUOTA
    error_rate = cloudwatch.MathExpression(
        expression="IF(invocations > 0, 100 * errors / invocations, 0)",
        using_metrics={
            "errors": function.metric_errors(period=PERIOD),
            "invocations": function.metric_invocations(period=PERIOD),
        },
        label="Error rate (%)",
        period=PERIOD,
    )
    thresholds = {
        "ErrorRate": (error_rate, 1, "More than 1 % of invocations failed"),
        "Throttles": (function.metric_throttles(period=PERIOD), 0, "Invocations were throttled"),
        "Duration": (
            function.metric_duration(period=PERIOD, statistic="Maximum"),
            settings.function.timeout_seconds * 800,  # 80 % in milliseconds
            "An invocation ran past 80 % of the timeout",
        ),
        "Concurrency": (
            function.metric("ConcurrentExecutions", period=PERIOD, statistic="Maximum"),
            0.8 * limit,
            f"Concurrency passed 80 % of its limit ({limit})",
        ),
    }
    topic = sns.Topic(alarms, "Topic", enforce_ssl=True)
    reason = "Alarms cannot publish to a topic with the AWS-managed key; they carry no secrets."
    accept(topic, reason, "SNS2")
    if settings.observability.alarm_email:
        topic.add_subscription(subscriptions.EmailSubscription(settings.observability.alarm_email))
    for name, (metric, threshold, description) in thresholds.items():
        metric.create_alarm(
            alarms,
            name,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        ).add_alarm_action(cloudwatch_actions.SnsAction(topic))
