-- How much history backed a score when it was made (0..1). Renormalisation re-applies the job's
-- normaliser to a stored probability and needs the same confidence the initial score used, so
-- that record_score and influencer_score stay consistent with initial_*_score.
ALTER TABLE records ADD COLUMN score_confidence DOUBLE DEFAULT 1.0;
ALTER TABLE influencers ADD COLUMN score_confidence DOUBLE DEFAULT 1.0;
